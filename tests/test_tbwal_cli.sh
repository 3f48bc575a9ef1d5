#!/bin/sh
# test_tbwal_cli.sh -- the tbwal command as a user runs it, piped and on a
# terminal (script(1) gives it a pty): every subcommand's --help, --version
# and --json; the one exit-code table (and the old names' own codes);
# intervals with units; stat's whole history after close(); watch's JSON
# lines and its terminal view (q quits, the terminal is restored); progress
# (compact, recover, sync of a backlog) on a terminal only; --from SYNC_ROOT finding the run by name, listing an
# ambiguous choice, --run-id; the hints (no such path, no journal, a writer
# still running with its pid).
set -u
B=${TBW_BUILDDIR:-.}
S=${TBW_SRCDIR:-.}
PY=${TBW_PYTHON:-/usr/bin/python3}
TBWAL="$B/tools/tbwal"
LOGN="$B/tests/tbw_logn"
T=$(mktemp -d /tmp/tbw_tbwal.XXXXXX)
WPID=""
cleanup() {
	[ -n "$WPID" ] && kill "$WPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
check() { # check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fails=$((fails+1)); fi
}
has() { # has NAME FILE PATTERN: grep -q
	if grep -q -- "$3" "$2"; then echo "ok: $1"; else echo "FAIL: $1: no '$3' in:"; sed 's/^/    /' "$2"; fails=$((fails+1)); fi
}
pyjson() { # pyjson NAME FILE PYTHON-EXPR-over-d (one JSON document, or the last line with --lines)
	"$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert $3, d
" "$2" && echo "ok: $1" || { echo "FAIL: $1"; fails=$((fails+1)); }
}
VERSION=$(sed -n 's/^#define TBW_VERSION_STRING "\(.*\)"/\1/p' "$S/include/tbwal.h")
export PYTHONPATH="$B/python${PYTHONPATH:+:$PYTHONPATH}"
# $PYX "$PY" ...: python that imports tbwal. In a sanitizer build the
# extension needs the ASan runtime preloaded into the (uninstrumented)
# interpreter, as in tests/python/run.sh (no leak check: CPython's own
# allocations would swamp it). env execs python, so $! is python's pid.
ASAN_RT=$(ldd "$B/python/tbwal/_tbwal.so" 2>/dev/null | awk '/libasan/ { print $3 }')
PYX=env
if [ -n "$ASAN_RT" ]; then
	PYX="env LD_PRELOAD=$ASAN_RT ASAN_OPTIONS=detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
fi

# ---- the dispatcher, --help, --version ----
"$TBWAL" >"$T/o" 2>&1; check "tbwal alone is a usage error" 2 $?
has "tbwal alone lists the commands" "$T/o" "watch"
"$TBWAL" --version >"$T/o"; check "tbwal --version exits 0" 0 $?
check "tbwal --version is TBW_VERSION_STRING" "tbwal $VERSION" "$(cat "$T/o")"
"$TBWAL" bogus >"$T/o" 2>&1; check "unknown command exits 2" 2 $?
"$TBWAL" tbstat x >"$T/o" 2>&1; check "tbwal tbstat exits 2" 2 $?
has "tbwal tbstat hints at tbwal stat" "$T/o" "did you mean 'tbwal stat'"
"$TBWAL" help stat >"$T/o"; check "tbwal help stat exits 0" 0 $?
has "tbwal help stat is stat's help" "$T/o" "usage: tbwal stat"
for c in recover sync compact stat watch; do
	"$TBWAL" $c --help >"$T/o" 2>&1; check "tbwal $c --help exits 0" 0 $?
	grep -qi "exit" "$T/o"; check "tbwal $c --help documents exit codes" 0 $?
	check "tbwal $c --version" "tbwal $VERSION" "$("$TBWAL" $c --version)"
	"$TBWAL" $c --bogus >/dev/null 2>&1; check "tbwal $c --bogus exits 2" 2 $?
done
for t in tbrecover tbsync tbcompact tbstat; do
	check "$t --version" "tbwal $VERSION" "$("$B/tools/$t" --version)"
done

# ---- the exit-code table: 4 not found (tbwal), the old names' codes ----
"$TBWAL" stat "$T/nope" >/dev/null 2>"$T/e"; check "stat: no such path exits 4" 4 $?
has "hint: the path does not exist" "$T/e" "does not exist"
"$B/tools/tbstat" "$T/nope" >/dev/null 2>&1; check "tbstat keeps 2 for no journal" 2 $?
"$B/tools/tbstat" >/dev/null 2>&1; check "tbstat keeps 1 for usage" 1 $?
"$TBWAL" stat >/dev/null 2>&1; check "tbwal stat usage exits 2" 2 $?
mkdir -p "$T/plain"
"$TBWAL" compact "$T/plain" >/dev/null 2>"$T/e"; check "compact: no journal exits 4" 4 $?
has "hint: no journal in the logdir" "$T/e" "holds no tbwal journal"
"$B/tools/tbcompact" "$T/plain" >/dev/null 2>&1; check "tbcompact keeps 5 for no journal" 5 $?
"$TBWAL" sync "$T/plain" "$T/d0" >/dev/null 2>&1; check "sync: no journal exits 4" 4 $?
"$B/tools/tbsync" "$T/plain" "$T/d0" >/dev/null 2>&1; check "tbsync: no journal exits 4" 4 $?
"$TBWAL" recover "$T/nothing" >/dev/null 2>&1; check "recover: nothing to recover exits 4" 4 $?
"$B/tools/tbrecover" "$T/nothing2" >/dev/null 2>&1; check "tbrecover keeps 2 for nothing" 2 $?
"$TBWAL" watch "$T/nope" >/dev/null 2>&1; check "watch: no journal exits 4" 4 $?
"$TBWAL" stat --json "$T/nope" >"$T/j" 2>/dev/null
pyjson "--json error document" "$T/j" 'd["schema"] == "tbwal.error/1" and d["exit_code"] == 4 and d["command"] == "stat"'

# ---- intervals: seconds, "500ms", "2s", "1.5"; bad ones are usage errors ----
"$TBWAL" sync "$T/plain" "$T/d0" --interval abc >/dev/null 2>&1; check "--interval abc exits 2" 2 $?
"$TBWAL" compact "$T/plain" --interval 5parsecs >/dev/null 2>&1; check "--interval 5parsecs exits 2" 2 $?
"$TBWAL" watch "$T/plain" --interval -1 >/dev/null 2>&1; check "--interval -1 exits 2" 2 $?

# ---- stat after close(): the whole history, not only what is stored ----
# no sync folder: close() exports and prunes everything
"$LOGN" "$T/run1" 300 || exit 1
"$TBWAL" stat "$T/run1" >"$T/o"; check "stat exits 0" 0 $?
has "stat: 300 records in the history" "$T/o" "history:   300 records logged"
has "stat: nothing stored after close" "$T/o" "records:   0 stored"
grep -q "^t1  *100  *0  *99  *149 *$" "$T/o"; check "stat: per-tag count, steps, last value" 0 $?
"$TBWAL" stat --json "$T/run1" >"$T/j"
pyjson "stat --json: schema, history, tags" "$T/j" 'd["schema"] == "tbwal.stat/1" and d["history"]["records"] == 300 and d["history"]["complete"] and d["records"] == 0 and sorted((t["tag"], t["count"], t["first_step"], t["last_step"], t["last_value"]) for t in d["tags"]) == [("t0", 100, 0, 99, 148.5), ("t1", 100, 0, 99, 149.0), ("t2", 100, 0, 99, 149.5)] and d["ship"] is None and d["export"]["seq"] == 300 and d["writer"]["running"] is False'
"$B/tools/tbstat" --json "$T/run1" >"$T/j2"
cmp -s "$T/j" "$T/j2"; check "tbstat --json is tbwal stat --json" 0 $?

# ---- compact and sync with --json, intervals with units, --quiet ----
"$LOGN" "$T/run2" 500 --no-export --die || exit 1
"$TBWAL" compact --json --quiet "$T/run2" >"$T/j" 2>"$T/e"; check "compact --json exits 0" 0 $?
check "compact --quiet says nothing" "" "$(cat "$T/e")"
pyjson "compact --json" "$T/j" 'd["schema"] == "tbwal.compact/1" and d["exported"] == 500 and d["cursor"]["seq"] == 500 and d["exit_code"] == 0'
"$TBWAL" stat --json "$T/run2" >"$T/j"
pyjson "stat after tbwal compact" "$T/j" 'd["history"]["records"] == 500 and d["export"]["lag_records"] == 0'
"$TBWAL" sync --json "$T/run2" "$T/drive2" --interval 1.5 >"$T/j" 2>/dev/null; check "sync --json --interval 1.5 exits 0" 0 $?
pyjson "sync --json" "$T/j" 'd["schema"] == "tbwal.sync/1" and d["ok"] and d["exit_code"] == 0'
"$TBWAL" compact --follow --interval 200ms --quiet "$T/run2" & CP=$!
sleep 1; kill -TERM $CP; wait $CP; check "compact --follow --interval 200ms stops on SIGTERM with 0" 0 $?
"$B/tools/tbcompact" --follow --interval 200 --quiet "$T/run2" & CP=$!
sleep 1; kill -TERM $CP; wait $CP; check "tbcompact --interval 200 (its milliseconds) still works" 0 $?

# ---- a writer still running: its pid in the hints, stat and watch ----
cat >"$T/writer.py" <<'PYEOF'
import os, sys, time
import tbwal
logdir, drive, stopfile = sys.argv[1:4]
w = tbwal.SummaryWriter(logdir, sync_dir=drive, compact_interval=0.2, sync_interval=0.5)
i = 0
for i in range(200):
    w.add_scalar("loss", 1.0 / (i + 1), i)
w.flush()
open(stopfile + ".ready", "w").close()
while not os.path.exists(stopfile):
    w.add_scalar("loss", 1.0 / (i + 1), i)
    w.add_scalar("lr", 0.1, i)
    i += 1
    time.sleep(0.005)
w.close()
PYEOF
$PYX "$PY" "$T/writer.py" "$T/live" "$T/drivel" "$T/stop" & WPID=$!
for _ in $(seq 100); do [ -e "$T/stop.ready" ] && break; sleep 0.1; done
"$TBWAL" recover "$T/live" >"$T/o" 2>"$T/e"; check "recover beside a running writer exits 3" 3 $?
has "hint: the writer's pid" "$T/e" "pid $WPID"
"$B/tools/tbrecover" "$T/live" >/dev/null 2>&1; check "tbrecover keeps 2 for refused" 2 $?
"$TBWAL" stat "$T/live" >"$T/o"; check "stat beside a writer exits 0" 0 $?
has "stat: the writer runs, with its pid" "$T/o" "writer:    running (pid $WPID)"
"$TBWAL" watch --count 3 --interval 300ms "$T/live" >"$T/w" 2>"$T/e"; check "watch --count 3 piped exits 0" 0 $?
check "watch piped: 3 JSON lines" 3 "$(wc -l <"$T/w" | tr -d ' ')"
"$PY" - "$T/w" "$WPID" <<'PYEOF' && echo "ok: watch JSON lines" || { echo "FAIL: watch JSON lines"; fails=$((fails+1)); }
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for d in lines:
    assert d["schema"] == "tbwal.watch/1", d
    assert d["writer"] == {"running": True, "pid": int(sys.argv[2])}, d
    assert {t["tag"] for t in d["tags"]} == {"loss", "lr"}, d
assert lines[-1]["last_seq"] > lines[0]["last_seq"], lines
assert lines[-1]["commits_per_second"] > 0, lines[-1]
assert lines[-1]["records"] >= lines[-1]["last_seq"] - 1, lines[-1]
PYEOF
# on a terminal: redraw with a sparkline, q quits, the terminal is restored
(sleep 2; printf q) | timeout 20 script -qfec "$TBWAL watch --interval 200ms $T/live" /dev/null >"$T/tty" 2>&1
check "watch on a terminal quits on q with 0" 0 $?
has "watch tty: alternate screen" "$T/tty" "$(printf '\033\[?1049h')"
has "watch tty: terminal restored" "$T/tty" "$(printf '\033\[?1049l')"
has "watch tty: cursor shown again" "$T/tty" "$(printf '\033\[?25h')"
has "watch tty: the tag table" "$T/tty" "loss"
has "watch tty: a sparkline" "$T/tty" "$(printf '\342\226')"
has "watch tty: commits per second" "$T/tty" "commits/s"
touch "$T/stop"; wait $WPID; WPID=""
"$TBWAL" stat --json "$T/live" >"$T/j"
pyjson "stat after the live writer closed: all history" "$T/j" 'd["records"] < d["history"]["records"] or d["history"]["records"] == d["last_seq"]'
pyjson "stat history counts every record" "$T/j" 'd["history"]["records"] == d["last_seq"] and sum(t["count"] for t in d["tags"]) == d["last_seq"]'

# ---- --from SYNC_ROOT: the run named after the logdir, newest first ----
cat >"$T/log.py" <<'PYEOF'
import sys
import tbwal
logdir, drive, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with tbwal.SummaryWriter(logdir, sync_dir=drive) as w:
    for i in range(n):
        w.add_scalar("acc", i / n, i)
PYEOF
$PYX "$PY" "$T/log.py" "$T/exp1" "$T/root" 40 || exit 1
rm -rf "$T/exp1"
"$TBWAL" recover --json --from "$T/root" "$T/exp1" >"$T/j" 2>"$T/e"; check "--from ROOT with one run exits 0" 0 $?
pyjson "--from ROOT restores the run" "$T/j" 'd["total_scalars"] == 40'
rm -rf "$T/exp1"
sleep 1.1
$PYX "$PY" "$T/log.py" "$T/exp1" "$T/root" 70 || exit 1
$PYX "$PY" "$T/log.py" "$T/other" "$T/root" 5 || exit 1
rm -rf "$T/exp1"
NEW=$(ls -t "$T/root" | grep '^exp1-' | head -n 1 | sed 's/^exp1-//')
"$TBWAL" recover --from "$T/root" "$T/exp1" </dev/null >"$T/o" 2>"$T/e"; check "two runs named exp1, not a terminal: exits 2" 2 $?
has "the runs are listed with their ids" "$T/e" "id $NEW"
check "both exp1 runs listed, not the other" 2 "$(grep -c '\] .*exp1-' "$T/e")"
sed -n '/\[1\]/p' "$T/e" | grep -q "$NEW"; check "the newest is listed first" 0 $?
[ ! -e "$T/exp1" ] || [ -z "$(ls "$T/exp1" | grep tfevents)" ]; check "ambiguous: nothing written" 0 $?
"$TBWAL" recover --json --from "$T/root" --run-id "$(echo "$NEW" | cut -c1-8)" "$T/exp1" >"$T/j" 2>/dev/null
check "--run-id picks one: exits 0" 0 $?
pyjson "--run-id restored the newest run" "$T/j" 'd["total_scalars"] == 70'
rm -rf "$T/exp1"
printf '2\n' | timeout 60 script -qfec "$TBWAL recover --from $T/root $T/exp1" /dev/null >"$T/tty" 2>&1
check "on a terminal the user chooses: exits 0" 0 $?
has "the prompt" "$T/tty" "choose one \[1-2\]"
has "the older run (40 scalars) was restored" "$T/tty" "total: 40 scalars"
"$TBWAL" recover --from "$T/root" --run-name nosuch "$T/x" >/dev/null 2>"$T/e"; check "--from ROOT, no such run name: exits 4" 4 $?
has "hint: the runs it holds" "$T/e" "run(s) of other names"
"$TBWAL" recover --from "$T/missing" "$T/x" >/dev/null 2>"$T/e"; check "--from a missing path exits 4" 4 $?
has "hint: --from does not exist" "$T/e" "does not exist"
"$TBWAL" stat "$T/root" >/dev/null 2>"$T/e"; check "stat of a sync root exits 4" 4 $?
has "hint: a sync folder, use recover --from" "$T/e" "looks like a sync folder"

# ---- progress: on a terminal (stderr), with total and percentage; never when piped ----
"$LOGN" "$T/big" 300000 --no-export --die || exit 1
cp -a "$T/big" "$T/big2"
cp -a "$T/big" "$T/big3"
for c in s1 s2 s3 s4; do cp -a "$T/big" "$T/big-$c"; done
timeout 300 script -qfec "$TBWAL compact $T/big" /dev/null >"$T/tty" 2>&1
check "compact of a big backlog on a terminal exits 0" 0 $?
has "progress: a total and a percentage" "$T/tty" "exporting: [0-9]*/300000 ([0-9]*%)"
"$TBWAL" compact "$T/big2" >"$T/o" 2>"$T/e"; check "compact piped exits 0" 0 $?
grep -q "exporting:" "$T/e"; check "no progress when piped" 1 $?
timeout 300 script -qfec "$TBWAL recover $T/big3" /dev/null >"$T/tty" 2>&1
check "recover of a big backlog on a terminal exits 0" 0 $?
has "recover progress: a total and a percentage" "$T/tty" "exporting: [0-9]*/300000 ([0-9]*%)"
"$TBWAL" recover --quiet "$T/big2" >/dev/null 2>"$T/e"; check "recover --quiet exits 0" 0 $?
check "recover --quiet: nothing on stderr" "" "$(cat "$T/e")"

# sync of a backlog (tbwal sync and tbsync): total and percentage on a
# terminal, then the summary line; nothing piped, nothing with --quiet
timeout 300 script -qfec "$TBWAL sync $T/big-s1 $T/drive-s1" /dev/null >"$T/tty" 2>&1
check "sync of a big backlog on a terminal exits 0" 0 $?
has "sync progress: a total and a percentage" "$T/tty" "shipping: [0-9]*/300000 ([0-9]*%)"
has "sync progress reaches 100%" "$T/tty" "shipping: 300000/300000 (100%)"
has "sync: the summary after the progress" "$T/tty" "$(printf '\033\[Ktbwal sync: shipped 300000 records')"
timeout 300 script -qfec "$B/tools/tbsync $T/big-s2 $T/drive-s2" /dev/null >"$T/tty" 2>&1
check "tbsync of a big backlog on a terminal exits 0" 0 $?
has "tbsync progress: a total and a percentage" "$T/tty" "shipping: [0-9]*/300000 ([0-9]*%)"
"$TBWAL" sync "$T/big-s3" "$T/drive-s3" >"$T/o" 2>"$T/e"; check "sync piped exits 0" 0 $?
check "sync piped: no progress on stderr" "" "$(cat "$T/e")"
has "sync piped: the summary on stdout" "$T/o" "shipped 300000 records"
timeout 300 script -qfec "$TBWAL sync --quiet $T/big-s4 $T/drive-s4" /dev/null >"$T/tty" 2>&1
check "sync --quiet on a terminal exits 0" 0 $?
check "sync --quiet on a terminal: nothing at all" "" "$(tr -d '\r' <"$T/tty")"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
