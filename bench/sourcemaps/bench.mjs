// Measures @jridgewell/trace-mapping on one source map, the counterpart of
// BenchmarkParse5MB / BenchmarkLookup in sourcemaps/mapping:
//   construct         new TraceMap(text)            (JSON.parse; mappings stay encoded)
//   construct+decode  new TraceMap(text) + one originalPositionFor (decodes all mappings)
//   lookup            originalPositionFor at positions picked like the Go
//                     benchmark: a uniformly random segment, 0-3 columns past it
//   trace_segment     traceSegment at the same positions (no result object)
// Prints one JSON object with nanoseconds per operation.
// Usage: node bench.mjs NODE_MODULES_DIR MAP_FILE
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const [nodeModules, mapFile] = process.argv.slice(2);
const require = createRequire(join(nodeModules, 'noop.js'));
const { TraceMap, originalPositionFor, traceSegment, decodedMappings } = require('@jridgewell/trace-mapping');
const text = readFileSync(mapFile, 'utf8');

function timeIt(minMs, minRuns, fn) {
  const samples = [];
  const deadline = performance.now() + minMs;
  while (samples.length < minRuns || performance.now() < deadline) {
    const t0 = process.hrtime.bigint();
    fn();
    samples.push(Number(process.hrtime.bigint() - t0));
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1]; // median
}

let sink = 0;
// Warm up the JIT on both paths before measuring.
for (let i = 0; i < 3; i++) {
  const m = new TraceMap(text);
  sink += originalPositionFor(m, { line: 1, column: 0 }).line | 0;
}
const construct = timeIt(3000, 10, () => { sink += new TraceMap(text).sources.length; });
const constructDecode = timeIt(3000, 10, () => {
  const m = new TraceMap(text);
  sink += originalPositionFor(m, { line: 1, column: 0 }).line | 0;
});

const map = new TraceMap(text);
const decoded = decodedMappings(map);
const segs = [];
decoded.forEach((line, l) => line.forEach((s) => segs.push([l, s[0]])));
// xorshift: deterministic positions without Math.random.
let x = 88172645463325252n;
const rnd = (n) => {
  x ^= x << 13n; x &= (1n << 64n) - 1n; x ^= x >> 7n; x ^= x << 17n; x &= (1n << 64n) - 1n;
  return Number(x % BigInt(n));
};
const N = 1 << 16;
const pos = new Array(N);
for (let i = 0; i < N; i++) {
  const [l, c] = segs[rnd(segs.length)];
  pos[i] = { line: l + 1, column: c + rnd(4) };
}
const rounds = 40;
for (let i = 0; i < N; i++) sink += originalPositionFor(map, pos[i]).column | 0; // warm-up
const t0 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < N; i++) sink += originalPositionFor(map, pos[i]).column | 0;
}
const lookup = Number(process.hrtime.bigint() - t0) / (rounds * N);
// traceSegment: the same search without building the result object, the
// closest equivalent of Lookup returning a Token.
const lines = pos.map((p) => p.line - 1);
const cols = pos.map((p) => p.column);
for (let i = 0; i < N; i++) sink += traceSegment(map, lines[i], cols[i])[0];
const t1 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < N; i++) sink += traceSegment(map, lines[i], cols[i])[0];
}
const lookupSegment = Number(process.hrtime.bigint() - t1) / (rounds * N);

process.stdout.write(JSON.stringify({
  bytes: text.length, segments: segs.length,
  construct_ns: construct, construct_decode_ns: constructDecode, lookup_ns: lookup, trace_segment_ns: lookupSegment, sink: sink & 1,
}) + '\n');
