#!/bin/sh
# demo.sh -- the README's first command: set up and build (scripts/build.sh),
# make the Python venv (scripts/venv.sh: $TBW_VENV, else build/venv; pinned
# torch CPU, tensorboardX, tensorboard), then run the crash-and-recover demo
# (examples/crash_demo.py) with the venv's Python and the tbwal package built
# in build/python: a simulated training run is SIGKILLed, the VM's local
# state deleted, and tbrecover rebuilds the event files from the sync folder;
# the same run through torch's own SummaryWriter (tensorboardX's without
# torch), killed at the same moment, is the comparison. It ends by serving
# both runs with a real TensorBoard on loopback (stopped before it exits).
#   scripts/demo.sh [crash_demo.py options, e.g. --steps 600]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
echo "demo: build complete in $top/build"
venv=${TBW_VENV:-$top/build/venv}
"$top/scripts/venv.sh" "$venv"
echo "demo: Python: $venv/bin/python, tbwal from build/python"
echo
cd "$top"
PYTHONPATH="$top/build/python${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
	exec "$venv/bin/python" "$top/examples/crash_demo.py" --tools "$top/build" --out "$top/build/demo" "$@"
