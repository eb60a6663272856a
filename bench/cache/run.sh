#!/bin/sh
# Times the first request for a ~6 MB source map in the four situations of
# the caching issue and prints them with the ratios a/c and a/d.
# Usage: bench/cache/run.sh [memory|fs|minio] (default: memory).
set -eu
cd "$(dirname "$0")/../.."
store=${1:-memory}
out=$(BENCH_STORE=$store go test ./bench/cache -run '^$' -bench '^Benchmark(FirstRequest|MapOnly)$' -benchtime 5x -count 1)
echo "$out" | grep -E '^(Benchmark|ok|FAIL)' >&2
echo "$out" | awk -v store="$store" '
/^BenchmarkFirstRequest\// {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[2]); t[p[2]] = $3 / 1e6
}
/^BenchmarkMapOnly\// {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[2]); m[p[2]] = $3 / 1e6
}
END {
	printf "store: %s; one ResolveStack of 20 frames, ~6 MB map, ~1.7 MB minified file\n", store
	printf "%-44s %10s\n", "situation", "ms"
	printf "%-44s %10.2f\n", "(a) first request after upload", t["a_after_upload"]
	printf "%-44s %10.3f\n", "(b) second request (memory)", t["b_memory_hit"]
	printf "%-44s %10.2f\n", "(c) first request after restart (disk)", t["c_after_restart"]
	printf "%-44s %10.2f\n", "(d) first request on a 2nd replica (store)", t["d_second_replica"]
	printf "a/c = %.1fx   a/d = %.1fx   (target >= 10x)\n", t["a_after_upload"] / t["c_after_restart"], t["a_after_upload"] / t["d_second_replica"]
	printf "map alone: parse %.2f ms, decode index %.2f ms (%.1fx)\n", m["parse"], m["decode_index"], m["parse"] / m["decode_index"]
}'
