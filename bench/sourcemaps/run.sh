#!/usr/bin/env bash
# Benchmarks sourcemaps/mapping against @jridgewell/trace-mapping 0.3.31 on
# the same ~6 MB esbuild source map (a bundle of rollup, terser, acorn,
# axios, preact and ajv from testdata/node/node_modules), in one run, and
# prints the ratios.
#
#   bench/sourcemaps/run.sh            # BENCHTIME=3s ROUNDS=1 by default
#
# Go:   BenchmarkParse5MB (whole Parse: JSON + VLQ decode + index),
#       BenchmarkLookup (one Lookup at a random segment + 0..3 columns),
#       BenchmarkGoSourcemapParse5MB (go-sourcemap, for scale).
# node: construct (new TraceMap: JSON.parse, mappings left encoded),
#       construct+decode (+ the first originalPositionFor, which decodes all),
#       lookup (originalPositionFor, same position distribution), and
#       traceSegment (the same search without the result object).
# Rounds alternate Go and node so both see the same machine load.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NM=$ROOT/testdata/node/node_modules
BENCHTIME=${BENCHTIME:-3s}
ROUNDS=${ROUNDS:-1}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

NODE_PATH=$NM "$NM/.bin/esbuild" "$ROOT/sourcemaps/mapping/testdata/bench/entry.js" \
	--bundle --minify --sourcemap --platform=node --format=esm --log-level=error \
	--outfile="$TMP/bundle.js"
MAP=$TMP/bundle.js.map
echo "map: $(wc -c <"$MAP") bytes"

(cd "$ROOT" && go test -c -o "$TMP/mapping.test" ./sourcemaps/mapping/)

: >"$TMP/go.txt"
: >"$TMP/node.txt"
for round in $(seq "$ROUNDS"); do
	echo "== round $round"
	(cd "$ROOT/sourcemaps/mapping" && MAPPING_BENCH_MAP=$MAP "$TMP/mapping.test" -test.run '^$' \
		-test.bench '^(BenchmarkParse5MB|BenchmarkGoSourcemapParse5MB|BenchmarkLookup)$' \
		-test.benchtime "$BENCHTIME" -test.benchmem) | tee -a "$TMP/go.txt"
	node "$ROOT/bench/sourcemaps/bench.mjs" "$NM" "$MAP" | tee -a "$TMP/node.txt"
done

# Medians over rounds, then ratios (> 1 means stacklens is faster).
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
goNs() { awk -v b="$1" '$1 ~ "^"b"(-[0-9]+)?$" {for (i=1;i<=NF;i++) if ($(i+1)=="ns/op") print $i}' "$TMP/go.txt" | median; }
nodeNs() { sed -n "s/.*\"$1\":\([0-9.e+]*\).*/\1/p" "$TMP/node.txt" | median; }

parse=$(goNs BenchmarkParse5MB)
goparse=$(goNs BenchmarkGoSourcemapParse5MB)
lookup=$(goNs BenchmarkLookup)
construct=$(nodeNs construct_ns)
constructDecode=$(nodeNs construct_decode_ns)
nodeLookup=$(nodeNs lookup_ns)
nodeSegment=$(nodeNs trace_segment_ns)

awk -v p="$parse" -v gp="$goparse" -v l="$lookup" -v c="$construct" -v cd="$constructDecode" -v nl="$nodeLookup" -v ns="$nodeSegment" 'BEGIN {
	printf "\n%-44s %14s\n", "measurement (median)", "time"
	printf "%-44s %11.2f ms\n", "stacklens Parse", p/1e6
	printf "%-44s %11.2f ms\n", "go-sourcemap Parse", gp/1e6
	printf "%-44s %11.2f ms\n", "trace-mapping construct", c/1e6
	printf "%-44s %11.2f ms\n", "trace-mapping construct+decode", cd/1e6
	printf "%-44s %11.1f ns\n", "stacklens Lookup", l
	printf "%-44s %11.1f ns\n", "trace-mapping originalPositionFor", nl
	printf "%-44s %11.1f ns\n", "trace-mapping traceSegment", ns
	printf "\nratios (>1: stacklens faster)\n"
	printf "%-44s %8.2fx\n", "parse vs trace-mapping construct", c/p
	printf "%-44s %8.2fx\n", "parse vs trace-mapping construct+decode", cd/p
	printf "%-44s %8.2fx\n", "parse vs go-sourcemap", gp/p
	printf "%-44s %8.2fx\n", "lookup vs originalPositionFor", nl/l
	printf "%-44s %8.2fx\n", "lookup vs traceSegment", ns/l
}'
