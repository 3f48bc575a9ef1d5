#!/bin/sh
# compare_tools.sh -- the pip-installed tools behave as the autotools-built
# programs: each case runs both on identical copies of the same runs, at the
# same path, and compares stdout, stderr, exit status and the files left
# behind. Only what a run cannot repeat is normalised: event file names
# (time.host.pid) and, in stderr, the program path a message names (argv[0]:
# the path run, or libtool's real program in build/tools/.libs/).
#   tests/packaging/compare_tools.sh PIP_BIN AUTOTOOLS_BUILDDIR
# PIP_BIN holds the console scripts (a venv's bin/); the runs are made by
# the autotools build's tests/tbw_logn. Exit 0 when every case matches.
set -eu
pipbin=$(cd "$1" && pwd)
bdir=$(cd "$2" && pwd)
logn=$bdir/tests/tbw_logn
[ -x "$logn" ] || { echo "compare_tools: $logn is not built (make -C $bdir tests/tbw_logn)" >&2; exit 1; }
for t in tbwal tbrecover tbsync tbcompact tbstat; do
	[ -x "$pipbin/$t" ] || { echo "compare_tools: no $pipbin/$t" >&2; exit 1; }
	[ -x "$bdir/tools/$t" ] || { echo "compare_tools: no $bdir/tools/$t" >&2; exit 1; }
done
s=$(mktemp -d "${TMPDIR:-/tmp}/tbw-cmp.XXXXXX")
trap 'rm -rf "$s"' EXIT
# The fixtures: a run exported and closed, one killed before export, one
# closed with a sync folder (its segments shipped), and an empty directory.
mkdir -p "$s/fix/closed" "$s/fix/empty"
"$logn" "$s/fix/closed" 30 >/dev/null
"$logn" "$s/fix/killed" 40 --die --no-export >/dev/null
"$logn" "$s/fix/synced" 25 --sync "$s/fix/drive" >/dev/null

norm() {
	sed -E 's/events\.out\.tfevents\.[0-9]+\.[^ ".]+\.[0-9]+/events.out.tfevents.T.H.P/g' "$1"
}
tree_of() {
	(cd "$1" && find . -path ./.tbwal -prune -o -type f -print | sort |
		sed -E 's/events\.out\.tfevents\.[0-9]+\.[^ ".]+\.[0-9]+/events.out.tfevents.T.H.P/g')
}
fails=0
cases=0
# run_case NAME TOOL ARGS... -- ARGS may use @W@ for the work directory.
run_case() {
	name=$1; tool=$2; shift 2
	for side in auto pip; do
		rm -rf "$s/w"
		cp -a "$s/fix" "$s/w"
		if [ $side = auto ]; then exe=$bdir/tools/$tool; else exe=$pipbin/$tool; fi
		args=""
		for a in "$@"; do args="$args '$(printf %s "$a" | sed "s#@W@#$s/w#g")'"; done
		set +e
		(cd "$s/w" && eval "\"$exe\" $args" >"$s/$side.out" 2>"$s/$side.err" </dev/null)
		echo $? >"$s/$side.rc"
		set -e
		# argv[0] as each prints it: the path run, or (libtool) the real program in .libs/
		sed -i -e "s#$bdir/tools/\.libs/\(lt-\)\{0,1\}$tool#$tool#g" -e "s#$exe#$tool#g" "$s/$side.err"
		tree_of "$s/w" >"$s/$side.tree"
	done
	cases=$((cases + 1))
	for k in rc out err tree; do
		norm "$s/auto.$k" >"$s/a.n"; norm "$s/pip.$k" >"$s/p.n"
		if ! cmp -s "$s/a.n" "$s/p.n"; then
			echo "FAIL: $name: $k differs (autotools vs pip):"
			diff "$s/a.n" "$s/p.n" | head -n 20
			fails=$((fails + 1))
			return 0
		fi
	done
	echo "ok: $name (exit $(cat "$s/auto.rc"))"
}

run_case "tbstat closed"            tbstat @W@/closed
run_case "tbstat --json killed"     tbstat @W@/killed --json
run_case "tbstat no journal"        tbstat @W@/empty
run_case "tbstat usage"             tbstat
run_case "tbstat --help"            tbstat --help
run_case "tbrecover killed"         tbrecover @W@/killed
run_case "tbrecover --json killed"  tbrecover --json @W@/killed
run_case "tbrecover --dry-run"      tbrecover --dry-run @W@/closed
run_case "tbrecover --from drive"   tbrecover --from "@W@/drive/$(ls "$s/fix/drive" | head -n 1)" @W@/restored
run_case "tbrecover bad option"     tbrecover --no-such-flag @W@/closed
run_case "tbrecover --help"         tbrecover --help
run_case "tbcompact --once killed"  tbcompact @W@/killed --once
run_case "tbcompact no journal"     tbcompact @W@/empty
run_case "tbcompact bad option"     tbcompact @W@/killed --bogus
run_case "tbsync --once killed"     tbsync @W@/killed @W@/drive2 --once
run_case "tbsync --json synced"     tbsync @W@/synced @W@/drive --json
run_case "tbsync usage"             tbsync @W@/killed
run_case "tbsync --help"            tbsync --help
run_case "tbwal alone"               tbwal
run_case "tbwal --version"           tbwal --version
run_case "tbwal stat closed"         tbwal stat @W@/closed
run_case "tbwal stat --json killed"  tbwal stat --json @W@/killed
run_case "tbwal stat no journal"     tbwal stat @W@/empty
run_case "tbwal recover --json"      tbwal recover --json @W@/killed
run_case "tbwal recover --from root" tbwal recover --json --from @W@/drive --run-name run @W@/restored
run_case "tbwal compact --json"      tbwal compact --json @W@/killed
run_case "tbwal sync --json"         tbwal sync --json @W@/killed @W@/drive3
run_case "tbwal watch --help"        tbwal watch --help
run_case "tbwal bogus"               tbwal bogus
# python -m tbwal TOOL is the same program as the console script.
set +e
"$pipbin/python" -m tbwal tbstat "$s/fix/closed" >"$s/m.out" 2>&1; mrc=$?
"$pipbin/tbstat" "$s/fix/closed" >"$s/c.out" 2>&1; crc=$?
set -e
cases=$((cases + 1))
if [ $mrc -ne $crc ] || ! cmp -s "$s/m.out" "$s/c.out"; then
	echo "FAIL: python -m tbwal tbstat differs from the tbstat console script"; fails=$((fails + 1))
else
	echo "ok: python -m tbwal tbstat = tbstat (exit $mrc)"
fi
if [ $fails -ne 0 ]; then
	echo "compare_tools: $fails of $cases cases differ"
	exit 1
fi
echo "compare_tools: all $cases cases match"
