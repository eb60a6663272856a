#!/bin/sh
# Times the first request for a ~6 MB source map in the four situations of
# the caching issue and prints them with the ratios a/c and a/d.
# Usage: bench/cache/run.sh [memory|fs|minio] (default: memory).
set -eu
cd "$(dirname "$0")/../.."
store=${1:-memory}
out=$(BENCH_STORE=$store go test ./bench/cache -run '^$' -bench '^Benchmark(FirstRequest|MapOnly)$' -benchtime 5x -count 1)
echo "$out" | grep -E '^(Benchmark|ok|FAIL)' >&2
echo "$out" | awk -v store="$store" -v bench=BenchmarkFirstRequest \
	-v what="one ResolveStack of 20 frames, ~6 MB map, ~1.7 MB minified file" -f bench/cache/situations.awk
