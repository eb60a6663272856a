// Usage: node stack.js BUNDLE.js NODE_MODULES
// Runs the bundle's checkout() on a cart with a bad price, and prints as JSON the
// frames of the thrown error that point into BUNDLE.js (Sentry order:
// oldest first), each with where @jridgewell/trace-mapping says it maps to
// in the original sources: the ground truth the symbolicated event must match.
"use strict";
const fs = require("fs");
const path = require("path");
const [bundle, nodeModules] = process.argv.slice(2);
const { TraceMap, originalPositionFor } = require(path.join(nodeModules, "@jridgewell/trace-mapping"));

require(path.resolve(bundle));
let err;
try {
  globalThis.checkout('{"items":[{"price":3,"quantity":1},{"price":-1,"quantity":2}]}');
} catch (e) {
  err = e;
}
if (!err) throw new Error("checkout did not throw");

const map = new TraceMap(fs.readFileSync(path.resolve(bundle) + ".map", "utf8"));
const frames = [];
for (const line of err.stack.split("\n").slice(1)) {
  const m = /\(?([^()\s]+):(\d+):(\d+)\)?$/.exec(line.trim());
  if (!m || path.resolve(m[1]) !== path.resolve(bundle)) continue;
  const lineno = Number(m[2]);
  const colno = Number(m[3]);
  const orig = originalPositionFor(map, { line: lineno, column: colno - 1 });
  frames.push({ lineno, colno, source: orig.source, origLine: orig.line, origColumn: orig.column });
}
frames.reverse();
process.stdout.write(JSON.stringify({ message: err.message, frames }));
