# Prints the table of a benchSituations benchmark (see situations_test.go)
# from `go test -bench` output: the four situations in ms and the ratios
# a/c and a/d. Variables: bench (the benchmark's name), store, what (the
# request timed). Lines of BenchmarkMapOnly, when present, add the map's
# parse and index decode.
$1 ~ "^" bench "/" {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[2]); t[p[2]] = $3 / 1e6
}
/^BenchmarkMapOnly\// {
	split($1, p, "/"); sub(/-[0-9]+$/, "", p[2]); m[p[2]] = $3 / 1e6
}
END {
	printf "store: %s; %s\n", store, what
	printf "%-44s %10s\n", "situation", "ms"
	printf "%-44s %10.2f\n", "(a) first request after upload", t["a_after_upload"]
	printf "%-44s %10.3f\n", "(b) second request (memory)", t["b_memory_hit"]
	printf "%-44s %10.2f\n", "(c) first request after restart (disk)", t["c_after_restart"]
	printf "%-44s %10.2f\n", "(d) first request on a 2nd replica (store)", t["d_second_replica"]
	printf "a/c = %.1fx   a/d = %.1fx   (target >= 10x)\n", t["a_after_upload"] / t["c_after_restart"], t["a_after_upload"] / t["d_second_replica"]
	if ("parse" in m)
		printf "map alone: parse %.2f ms, decode index %.2f ms (%.1fx)\n", m["parse"], m["decode_index"], m["parse"] / m["decode_index"]
}
