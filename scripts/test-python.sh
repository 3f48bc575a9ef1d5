#!/bin/sh
# test-python.sh -- run the pytest suites under tests/py (the SummaryWriter,
# real TensorBoard, frameworks) in the pinned test venv (scripts/venv.sh).
#   scripts/test-python.sh [BUILD_DIR] [--wheel WHEEL] [PYTEST_ARGS...]   (default build/)
# Without --wheel: against the package the autotools build made in
# BUILD_DIR/python (PYTHONPATH). With --wheel: against that wheel installed
# (pip, --no-deps --force-reinstall) into BUILD_DIR/venv-wheel, a venv
# layered over the test venv (a .pth file adds the test venv's site-packages
# after its own), so the pinned venv itself is never modified and can be
# shared; the tools are the wheel's console scripts (TBW_TOOLSDIR).
# BUILD_DIR/venv-wheel/bin/python is left for later stages (the notebook run).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
bdir=$top/build
if [ $# -gt 0 ] && [ -d "$1" ]; then bdir=$(cd "$1" && pwd); shift; fi
wheel=""
if [ "${1:-}" = "--wheel" ]; then wheel=$2; shift 2; fi
venv=${TBW_VENV:-$top/build/venv}
"$top/scripts/venv.sh" "$venv"
TBW_BUILDDIR=$bdir
TBW_SRCDIR=$top
PYTHONDONTWRITEBYTECODE=1
export TBW_BUILDDIR TBW_SRCDIR PYTHONDONTWRITEBYTECODE
cd "$top"
if [ -z "$wheel" ]; then
	if [ ! -f "$bdir/python/tbwal/_tbwal.so" ]; then
		echo "test-python: $bdir/python/tbwal/_tbwal.so is not built (scripts/build.sh)" >&2
		exit 1
	fi
	PYTHONPATH="$bdir/python${PYTHONPATH:+:$PYTHONPATH}"
	export PYTHONPATH
	exec "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/py "$@"
fi
[ -f "$wheel" ] || { echo "test-python: no wheel $wheel" >&2; exit 1; }
ov=$bdir/venv-wheel
rm -rf "$ov"
"$venv/bin/python" -m venv "$ov"
base=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
own=$("$ov/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$base" >"$own/tbwal-test-venv.pth"
"$ov/bin/python" -m pip -q --disable-pip-version-check install --no-index --no-deps \
	--force-reinstall "$wheel"
unset PYTHONPATH
PATH=$ov/bin:$venv/bin:$PATH
TBW_TOOLSDIR=$ov/bin
export PATH TBW_TOOLSDIR
where=$(cd / && "$ov/bin/python" -c 'import tbwal; print(tbwal.__file__)')
case $where in
"$ov"/*) echo "test-python: tests/py against $(basename "$wheel") installed in $ov" ;;
*) echo "test-python: tbwal imports from $where, not from $ov" >&2; exit 1 ;;
esac
exec "$ov/bin/python" -m pytest -q -p no:cacheprovider tests/py "$@"
