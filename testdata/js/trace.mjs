// Reference lookups with @jridgewell/trace-mapping, the source map library
// most JS tooling uses. stdin: [{"map": "/abs/path/x.js.map", "url":
// optional URL of the map, "queries": [[line1, col0], ...]}, ...]; stdout:
// for each query {source, line, column, name, text} (line 1-based, column
// 0-based, source resolved against the map's URL or path, text the
// original line from sourcesContent) or null when the position has no
// mapping.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(join(process.env.STACKLENS_NODE_MODULES, 'noop.js'));
const { TraceMap, originalPositionFor, sourceContentFor } = require('@jridgewell/trace-mapping');

const jobs = JSON.parse(readFileSync(0, 'utf8'));
const out = jobs.map(({ map, url, queries }) => {
  const tm = new TraceMap(readFileSync(map, 'utf8'), url || map);
  return queries.map(([line, column]) => {
    const p = originalPositionFor(tm, { line, column });
    if (p.source === null && p.line === null) {
      return null;
    }
    const content = p.source === null ? null : sourceContentFor(tm, p.source);
    return { ...p, text: content === null ? null : content.split('\n')[p.line - 1] };
  });
});
process.stdout.write(JSON.stringify(out));
