#!/bin/sh
# screenshot.sh -- regenerate doc/tensorboard-demo.png: TensorBoard's scalar
# dashboard on the demo's runs (build/demo/served: tbwal's run recovered from
# the sync folder, next to torch's writer's as the kill left it), taken with
# headless Chromium (Debian's `chromium` package, installed if missing).
# Runs ./scripts/demo.sh first if its output is not there. TensorBoard is
# started on loopback on a free port and stopped at the end.
#   scripts/screenshot.sh [OUT.png]     (default doc/tensorboard-demo.png)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/doc/tensorboard-demo.png}
venv=${TBW_VENV:-$top/build/venv}
if [ ! -d "$top/build/demo/served/tbwal" ]; then
	"$top/scripts/demo.sh"
fi
if ! command -v chromium >/dev/null 2>&1; then
	echo "screenshot: installing Debian's chromium"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
fi
"$venv/bin/python" - "$top" "$out" <<'PY'
import os, subprocess, sys, tempfile, time
top, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(top, "tests", "py", "tensorboard"))
from tbserver import TensorBoard
served = os.path.join(top, "build", "demo", "served")
tb = TensorBoard(served, True, reload_interval=1, log_path=served + ".screenshot-tensorboard.log")
prof = tempfile.mkdtemp(prefix="tbw-chromium-")
try:
    tb.start()
    tb.wait_for(lambda: len(tb.scalar_tags()) >= 2, timeout=60)
    time.sleep(2)
    raw = out + ".raw.png"
    url = "http://127.0.0.1:%d/?darkMode=false#scalars&tagFilter=train%%2Floss" % tb.port
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--user-data-dir=" + prof, "--window-size=1200,760",
                    "--virtual-time-budget=20000", "--screenshot=" + raw, url],
                   check=True, timeout=180, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    from PIL import Image
    im = Image.open(raw).convert("RGB")
    im.quantize(colors=64).save(out, optimize=True)   # small enough to commit
    os.unlink(raw)
    print("screenshot: %s (%d bytes) from %s" % (out, os.path.getsize(out), url))
finally:
    tb.stop()
    subprocess.run(["rm", "-rf", prof])
PY
