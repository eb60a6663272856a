#!/usr/bin/env bash
# Native symbolizer benchmarks: ours (debugfiles/symbolizer) against
# llvm-symbolizer in the same run, on cmd/compile built with uncompressed
# DWARF (~45 MB) and the C++ fixture.
#   BenchmarkCold   Open + index + 10,000 random .text lookups (file in memory)
#   BenchmarkWarm   one lookup on an opened module
#   BenchmarkVsLLVM both tools on the same addresses; reports ours-/llvm-cold-ms,
#                   ours-/llvm-warm-ns/addr (llvm's marginal cost per address in
#                   one batch) and cold-speedup / warm-speedup (> 1: we are faster)
# The machine's other load skews absolute numbers; the ratios are measured
# side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v llvm-symbolizer >/dev/null || { echo "llvm-symbolizer is required" >&2; exit 1; }
pkg=./debugfiles/symbolizer/
go test -run '^$' -bench 'BenchmarkCold|BenchmarkVsLLVM' -benchtime "${COLD_BENCHTIME:-3x}" "$pkg"
go test -run '^$' -bench 'BenchmarkWarm' -benchtime "${WARM_BENCHTIME:-1000000x}" "$pkg"
