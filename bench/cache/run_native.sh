#!/bin/sh
# Times the first native request (Find + 20 lookups) for cmd/compile built
# with uncompressed DWARF (~45 MB) in the four situations of the caching
# issue and prints them with the ratios a/c and a/d.
# Usage: bench/cache/run_native.sh [memory|fs|minio] (default: memory).
set -eu
cd "$(dirname "$0")/../.."
store=${1:-memory}
out=$(BENCH_STORE=$store go test ./bench/cache -run '^$' -bench 'NativeFirstRequest' -benchtime "${BENCHTIME:-5x}" -count 1)
echo "$out" | grep -E '^(Benchmark|ok|FAIL)' >&2
echo "$out" | awk -v store="$store" -v bench=BenchmarkNativeFirstRequest \
	-v what="Find + 20 lookups in cmd/compile (~45 MB ELF, uncompressed DWARF)" -f bench/cache/situations.awk
