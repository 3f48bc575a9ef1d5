#!/bin/sh
# test_tbrecover_cli.sh -- tbrecover as a user runs it: exit codes 0/1/2,
# --json parses and agrees with the text report, --dry-run changes nothing,
# no progress output when stdout is not a terminal, --help, usage errors.
set -u
B=${TBW_BUILDDIR:-.}
PY=${TBW_PYTHON:-/usr/bin/python3}
REC="$B/tools/tbrecover"
LOGN="$B/tests/tbw_logn"
T=$(mktemp -d /tmp/tbw_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
check() { # check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: expected '$2', got '$3'"; fails=$((fails+1)); fi
}

# --help and usage
"$REC" --help >"$T/help" 2>&1; check "--help exits 0" 0 $?
grep -q "Exit status" "$T/help"; check "--help documents exit codes" 0 $?
"$REC" >/dev/null 2>&1; check "no LOGDIR is a usage error" 2 $?
"$REC" --bogus x >/dev/null 2>&1; check "unknown option is a usage error" 2 $?
"$REC" --purge-step abc x >/dev/null 2>&1; check "bad --purge-step is a usage error" 2 $?

# Nothing recoverable
"$REC" "$T/empty" >"$T/out" 2>"$T/err"; check "nothing to recover exits 2" 2 $?
grep -q "nothing to recover" "$T/err"; check "says why on stderr" 0 $?

# A crashed writer: intact journal, nothing exported yet
"$LOGN" "$T/a" 300 --no-export --die || exit 1
"$REC" --dry-run "$T/a" >"$T/out" 2>"$T/err"; check "dry run exits 0" 0 $?
ls "$T/a" | grep -c tfevents | grep -qx 0; check "dry run writes no event file" 0 $?
"$REC" --json "$T/a" >"$T/json" 2>"$T/err"; check "recovery exits 0" 0 $?
[ -s "$T/err" ] && { echo "stderr not empty:"; cat "$T/err"; }
check "quiet on stderr when not a terminal" "" "$(cat "$T/err")"
"$PY" - "$T/json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["status"] == "recovered", r["status"]
assert r["exit_code"] == 0
assert r["total_scalars"] == 300, r["total_scalars"]
assert r["exported"] == 300
assert r["lost"] == 0
tags = {t["tag"]: t for t in r["tags"]}
assert sorted(tags) == ["t0", "t1", "t2"], tags
assert tags["t0"]["count"] == 100 and tags["t0"]["last_step"] == 99, tags["t0"]
assert tags["t2"]["last_value"] == 299 * 0.5, tags["t2"]
assert r["sources"][0]["kind"] == "journal" and r["sources"][0]["used"]
print("json ok")
PYEOF
check "json report is complete and right" 0 $?
"$REC" "$T/a" >"$T/out2" 2>&1; check "second run exits 0" 0 $?
grep -q "0 exported now" "$T/out2"; check "second run exports nothing" 0 $?
grep -q "^t1 .* 100 " "$T/out2"; check "text report has per-tag counts" 0 $?

# Lost machine: only segments; then a damaged segment that held records -> exit 1
"$LOGN" "$T/b" 500 --sync "$T/drive" || exit 1
RUN=$(ls -d "$T"/drive/run-*)
rm -rf "$T/b"
"$REC" --from "$RUN" "$T/b" >"$T/out" 2>&1; check "restore from segments exits 0" 0 $?
grep -q "total: 500 scalars" "$T/out"; check "restores all 500" 0 $?
rm -rf "$T/b"
for f in "$RUN"/seg-*; do printf 'garbage' | dd of="$f" bs=1 seek=100 conv=notrunc status=none; done
"$REC" --json --from "$RUN" "$T/b" >"$T/json" 2>&1; check "all segments damaged: nothing recoverable exits 2" 2 $?

# Partial loss: a second sync folder with good segments for part of the run
"$LOGN" "$T/c" 200 --sync "$T/drive2" || exit 1
"$LOGN" "$T/c" 200 --sync "$T/drive2" --start 200 || exit 1
RUN2=$(ls -d "$T"/drive2/run-*)
rm -rf "$T/c"
first=$(ls "$RUN2"/seg-* | head -n 1)
printf 'garbage' | dd of="$first" bs=1 seek=100 conv=notrunc status=none
"$REC" --json --from "$RUN2" "$T/c" >"$T/json" 2>&1; code=$?
check "recovered with losses exits 1" 1 $code
"$PY" -c "
import json,sys
r=json.load(open('$T/json'))
assert r['status']=='recovered with losses', r['status']
assert r['lost']>0 and r['total_scalars']+r['lost']==400, (r['lost'], r['total_scalars'])
assert any('seg-' in d['path'] for d in r['damage'])
print('losses reported:', r['lost'])
"; check "losses counted exactly" 0 $?

# A truncated (not empty) data.mdb after a crash: damage, named in the
# report, and the run restored whole from its folder under its own id
"$LOGN" "$T/f" 3000 --sync "$T/drive4" || exit 1
RUN4=$(ls -d "$T"/drive4/run-*)
rm -f "$T"/f/events.out.tfevents.*
truncate -s 12288 "$T/f/.tbwal/data.mdb"
"$REC" --json --from "$RUN4" "$T/f" >"$T/json" 2>&1; check "truncated journal, full folder: exits 0" 0 $?
"$PY" -c "
import json
r=json.load(open('$T/json'))
assert r['status']=='recovered', r['status']
assert r['total_scalars']==3000, r['total_scalars']
assert r['run_id']=='$RUN4'[-32:], r['run_id']
assert any('truncated' in d['what'] and 'data.mdb' in d['what'] for d in r['damage']), r['damage']
print('truncated journal reported and restored')
"; check "truncated journal reported as damage, not a new run" 0 $?
check "no second run folder" 1 "$(ls -d "$T"/drive4/run-* | wc -l)"

# --dry-run --from says what the real run then does: with the local journal
# present (600 shipped, 300 more only in the journal) and with the VM lost.
# The second writer has no sync folder, so none of its 300 can ship (with
# one, its background pass could ship some before it dies: seen under ASan).
"$LOGN" "$T/g" 600 --sync "$T/drive5" || exit 1
"$LOGN" "$T/g" 300 --start 600 --no-export --die || exit 1
RUN5=$(ls -d "$T"/drive5/run-*)
for where in journal lost; do
	[ "$where" = lost ] && rm -rf "$T/g"
	"$REC" --dry-run --from "$RUN5" "$T/g" >"$T/dry" 2>&1; dcode=$?
	"$REC" --from "$RUN5" "$T/g" >"$T/real" 2>&1; rcode=$?
	check "dry run exits as the real run ($where)" "$rcode" "$dcode"
	check "dry run's total is the real run's ($where)" "$(grep '^total:' "$T/real")" "$(grep '^total:' "$T/dry")"
	want=900; [ "$where" = lost ] && want=600   # the last 300 never shipped
	grep -q "^total: $want scalars" "$T/real"; check "real run restores $want ($where)" 0 $?
	rm -rf "$T/g"/events.out.tfevents.* "$T/g/.tbwal-recovered"
done

# tbsync attached late: it says what it cannot ship
"$LOGN" "$T/e" 90 || exit 1
"$B/tools/tbsync" --once "$T/e" "$T/drive3" >"$T/out" 2>"$T/err"; check "late tbsync exits 0" 0 $?
grep -q "records 1..90 were exported and pruned before any syncer" "$T/err"; check "late tbsync warns what it cannot ship" 0 $?

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
