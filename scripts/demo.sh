#!/bin/sh
# demo.sh -- the README's first command: set up and build (scripts/build.sh),
# install the Python binding for Debian's /usr/bin/python3 (offline, into
# build/demo-site, leaving the system's site-packages alone), then run the
# crash-and-recover demo (examples/crash_demo.py): a simulated training run is
# SIGKILLed, the VM's local state deleted, and tbrecover rebuilds the event
# files from the sync folder; the same run through a torch-like buffered
# writer, killed at the same moment, is the comparison.
#   scripts/demo.sh [crash_demo.py options, e.g. --steps 600]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
echo "demo: build complete in $top/build"

# Debian's interpreter, not whatever python3 comes first on PATH (pyenv, conda).
PY=/usr/bin/python3
site=$top/build/demo-site
rm -rf "$site"
echo "demo: installing the Python package: $PY -m pip install --target build/demo-site ."
PIP_DISABLE_PIP_VERSION_CHECK=1 \
	"$PY" -m pip install --quiet --no-index --no-build-isolation --root-user-action=ignore \
	--target "$site" "$top"
echo
cd "$top"
PYTHONPATH=$site exec "$PY" "$top/examples/crash_demo.py" --tools "$top/build" --out "$top/build/demo" "$@"
