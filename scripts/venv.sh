#!/bin/sh
# venv.sh -- make (or bring up to date) the Python virtual environment the
# Python, TensorBoard and framework tests run in, from the pins in
# tests/requirements.txt. torch is installed first and pinned (torch==2.13.0,
# the CPU build), so nothing that depends on torch pulls another build.
#   scripts/venv.sh [DIR]      (default: $TBW_VENV, else build/venv)
# Prints nothing but errors when the venv is already up to date.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-${TBW_VENV:-$top/build/venv}}
req=$top/tests/requirements.txt
stamp=$venv/.tbwal-requirements
py=${TBW_VENV_PYTHON:-python3}
if [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
	exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
	echo "venv: creating $venv with $($py --version 2>&1)"
	"$py" -m venv "$venv"
fi
pip="$venv/bin/python -m pip --disable-pip-version-check -q"
torch=$(grep -E '^torch==' "$req")
echo "venv: installing $torch, then tests/requirements.txt"
$pip install "$torch"
$pip install -r "$req"
cp "$req" "$stamp"
