#!/bin/sh
# bench-layer.sh -- instructions per call of tbwal's commit path against a
# raw LMDB put+commit with the same flags (bench/bench_commit_layer), from
# callgrind: each variant runs with two call counts and the difference of
# the totals is divided by the difference of the counts (the open and the
# first pages cancel out). Repeatable on a noisy machine, unlike a clock.
#   scripts/bench-layer.sh [BUILD_DIR] [TMPDIR]
set -eu
b=${1:-build}
tmp=${2:-${TMPDIR:-/tmp}}
prog="$b/bench/bench_commit_layer"
lo=20000 hi=120000
count() {
	valgrind --tool=callgrind --callgrind-out-file=/dev/null "$prog" --only "$1" "$2" "$tmp" 2>&1 |
		sed -n 's/.*Collected : *\([0-9][0-9]*\).*/\1/p; s/.*refs: *\([0-9,]*\).*/\1/p' | tr -d , | head -1
}
# raw: one table; raw4: the journal's four tables (records, tags, meta,
# cursors), which LMDB walks in every transaction's begin and commit.
raw="" raw4=""
for v in raw raw4 journal api; do
	a=$(count "$v" $lo)
	z=$(count "$v" $hi)
	per=$(( (z - a) / (hi - lo) ))
	[ -z "$raw" ] && raw=$per
	[ "$v" = raw4 ] && raw4=$per
	r=$(awk "BEGIN{printf \"%.3f\", $per/$raw}")
	case $v in
	raw) echo "$v: $per instructions per call" ;;
	raw4) echo "$v: $per instructions per call (${r}x raw)" ;;
	*)
		r4=$(awk "BEGIN{printf \"%.3f\", $per/$raw4}")
		if awk "BEGIN{exit !($per <= 1.10 * $raw4)}"; then verdict="met"; else verdict="MISSED"; fi
		echo "$v: $per instructions per call (${r}x raw, ${r4}x raw4; target <= 1.10x raw4: $verdict)" ;;
	esac
done
