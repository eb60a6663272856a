// Entry point: prints every scenario's stack as JSON on stdout:
// [{"scenario": name, "stack": error.stack}, ...]. A host that defines
// globalThis.__stacklensOnResults (the @sentry/node capture script) gets
// the results, errors included, instead.
import { runScenarios } from './main.js';

Error.stackTraceLimit = 50;
runScenarios().then((results) => {
  if (typeof globalThis.__stacklensOnResults === 'function') {
    return globalThis.__stacklensOnResults(results);
  }
  process.stdout.write(JSON.stringify(results.map(({ scenario, stack }) => ({ scenario, stack }))) + '\n');
});
