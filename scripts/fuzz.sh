#!/bin/sh
# fuzz.sh -- build the libFuzzer targets (CC=clang --enable-fuzzing, in
# build-fuzz/) and run each on its seed corpus under ASan+UBSan.
#   scripts/fuzz.sh [SECONDS]        seconds per target (default 60;
#                                    TBW_FUZZ_SECONDS overrides, for long runs)
#   TBW_FUZZ_TARGETS="events segment"  run only these targets
# Fails on any crash, leak, sanitizer report, timeout or failed check; the
# input that did it is left in build-fuzz/fuzz-out/<target>/ (crash-*,
# timeout-*, leak-*): copy it to tests/fuzz-regress/<target>/ (doc/fuzzing.md).
# New inputs the fuzzer finds go to build-fuzz/fuzz-out/<target>/corpus/, not
# into the committed seeds.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${TBW_FUZZ_SECONDS:-${1:-60}}
targets=${TBW_FUZZ_TARGETS:-"events segment journal recover"}
bdir=$top/build-fuzz
"$top/scripts/setup.sh" build fuzz
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
	(cd "$top" && autoreconf -fi)
fi
mkdir -p "$bdir"
cd "$bdir"
if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ]; then
	"$top/configure" CC=clang --enable-fuzzing --disable-shared ${TBW_CONFIGURE_FLAGS:-}
fi
progs=""
for t in $targets; do progs="$progs fuzz/fuzz_$t"; done
make -j"$(nproc)" $progs

total=0
status=0
summary=""
for t in $targets; do
	out=$bdir/fuzz-out/$t
	rm -rf "$out"
	mkdir -p "$out/corpus"
	log=$out/fuzz.log
	# Temporary folders of the targets go here (a crash skips their cleanup).
	mkdir -p "$out/tmp"
	echo "== fuzz $t: ${secs}s on tests/fuzz-corpus/$t"
	# -timeout: one input taking 10 s is a hang; -rss_limit_mb: a runaway
	# allocation. ASAN_OPTIONS: leaks are findings too.
	if TMPDIR=$out/tmp ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	   "./fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	      -print_final_stats=1 -artifact_prefix="$out/" \
	      "$out/corpus" "$top/tests/fuzz-corpus/$t" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		echo "fuzz $t: ${execs:-?} executions, no crash"
		summary="$summary $t=${execs:-0}"
		total=$((total + ${execs:-0}))
		rm -rf "$out/tmp"
	else
		status=1
		echo "fuzz $t: FAILED (log: $log)"
		grep -E 'ERROR|SUMMARY|check failed|Test unit written|^    #[0-9]' "$log" | head -n 40 || true
		tail -n 20 "$log"
		ls "$out"/crash-* "$out"/timeout-* "$out"/leak-* "$out"/oom-* 2>/dev/null || true
	fi
done
echo "fuzz: executions per target:$summary; total $total"
exit $status
