// Ground truth for the Go decoder: for each job (a source map file and a
// list of 0-based [line, column] generated positions) prints what
// @jridgewell/trace-mapping answers, per position:
//   [kind, source, line0, column, name, sourceIndex, nameIndex]
// kind 0: no segment (originalPositionFor gives null and traceSegment null),
// kind 1: a 1-field segment (originalPositionFor null, traceSegment [col]),
// kind 2: mapped. line0 is originalPositionFor's 1-based line minus 1.
// Maps are loaded with FlattenMap, which also reads index maps.
// Usage: node trace.mjs NODE_MODULES_DIR JOBS_FILE
//   JOBS_FILE: [{"map": "/path/x.map", "positions": [[0, 5], ...]}, ...]
//   output:    one array of answers per job, as JSON.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [nodeModules, jobsFile] = process.argv.slice(2);
const require = createRequire(join(nodeModules, 'noop.js'));
const tm = require('@jridgewell/trace-mapping');

function answer(map, line, column) {
  const seg = tm.traceSegment(map, line, column);
  const orig = tm.originalPositionFor(map, { line: line + 1, column });
  if (seg === null) {
    if (orig.source !== null) throw new Error(`traceSegment null but originalPositionFor mapped at ${line}:${column}`);
    return [0];
  }
  if (seg.length === 1) {
    if (orig.source !== null) throw new Error(`1-field segment but originalPositionFor mapped at ${line}:${column}`);
    return [1];
  }
  return [2, orig.source, orig.line - 1, orig.column, orig.name, seg[1], seg.length === 5 ? seg[4] : -1];
}

const jobs = JSON.parse(readFileSync(jobsFile, 'utf8'));
const out = jobs.map(({ map: file, positions }) => {
  const map = new tm.FlattenMap(readFileSync(file, 'utf8'));
  return positions.map(([line, column]) => answer(map, line, column));
});
process.stdout.write(JSON.stringify(out));
