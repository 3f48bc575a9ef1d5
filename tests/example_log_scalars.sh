#!/bin/sh
# example_log_scalars.sh -- make check test for examples/log_scalars.c: run it
# on a fresh logdir, then check with tbstat --json that the journal committed
# and exported every scalar, and read the event files back independently
# (CRCs checked, examples/crash_demo.py's reader) to count them per tag.
set -eu
top=${TBW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TBW_BUILDDIR:-.}
py=${TBW_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tbw-example.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
steps=250

"$build/examples/log_scalars" "$tmp/run" "$steps" "$tmp/drive" >"$tmp/out"
cat "$tmp/out"
grep -q "^logged $steps steps x 3 tags" "$tmp/out"
ls "$tmp/run"/events.out.tfevents.* >/dev/null
"$build/tools/tbstat" "$tmp/run" --json >"$tmp/stat.json"

"$py" - "$top" "$tmp" "$steps" <<'PYEOF'
import json, sys
top, tmp, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, top + "/examples")
from crash_demo import read_scalars
st = json.load(open(tmp + "/stat.json"))
want = 3 * steps
assert st["last_seq"] == want, "tbstat: last_seq %r, want %d" % (st["last_seq"], want)
assert st["export"]["seq"] == want and st["export"]["lag_records"] == 0, st["export"]
assert st["ship"]["seq"] == want, st["ship"]   # close() shipped everything to the sync dir
got, torn = read_scalars(tmp + "/run")
assert torn == 0, "torn record in the event files"
keys = sorted((t, s) for t, s, _ in got)
assert keys == sorted((t, s) for s in range(steps) for t in ("train/loss", "train/accuracy", "train/lr")), \
    "event files hold %d scalars, want each of %d exactly once" % (len(keys), want)
print("ok: %d scalars committed, exported once each, shipped" % want)
PYEOF
