#!/bin/sh
# test-python.sh -- run the pytest suites under tests/py (the SummaryWriter,
# real TensorBoard, frameworks) in the test venv (scripts/venv.sh), against
# the tbwal package built in BUILD_DIR/python.
#   scripts/test-python.sh [BUILD_DIR] [PYTEST_ARGS...]   (default build/)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=$top/build
if [ $# -gt 0 ] && [ -d "$1" ]; then bdir=$(cd "$1" && pwd); shift; fi
venv=${TBW_VENV:-$top/build/venv}
"$top/scripts/venv.sh" "$venv"
if [ ! -f "$bdir/python/tbwal/_tbwal.so" ]; then
	echo "test-python: $bdir/python/tbwal/_tbwal.so is not built (scripts/build.sh)" >&2
	exit 1
fi
PYTHONPATH="$bdir/python${PYTHONPATH:+:$PYTHONPATH}"
TBW_BUILDDIR=$bdir
TBW_SRCDIR=$top
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH TBW_BUILDDIR TBW_SRCDIR PYTHONDONTWRITEBYTECODE
cd "$top"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/py "$@"
