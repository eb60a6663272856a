// Imports a bundle built from app.js, runs main() and prints the stack of
// the error thrown in Warenkorb.checkout (the wrapped error's cause), so
// the test gets a generated position from V8 itself.
// Usage: node throw.mjs BUNDLE_FILE
import { pathToFileURL } from 'node:url';

const bundle = await import(pathToFileURL(process.argv[2]).href);
try {
  await bundle.main();
  throw new Error('main() did not fail');
} catch (err) {
  if (!err.cause) throw err;
  process.stdout.write(err.cause.stack);
}
