#!/bin/sh
# run.sh MODULE -- run one unittest module of tests/python against the tbwal
# package built in $TBW_BUILDDIR/python (or $TBW_PY_PKGDIR), with $TBW_PYTHON
# (Debian's python3).
# In a sanitizer build the extension needs the ASan runtime preloaded into the
# (uninstrumented) interpreter; leaks are not checked there (CPython's own
# allocations would swamp them).
set -eu
mod=$1
: "${TBW_PYTHON:=/usr/bin/python3}"
: "${TBW_BUILDDIR:?run by make check}"
: "${TBW_SRCDIR:?run by make check}"
so="$TBW_BUILDDIR/python/tbwal/_tbwal.so"
if [ ! -f "$so" ]; then
	echo "run.sh: $so is not built (make all)" >&2
	exit 99
fi
asan=$(ldd "$so" 2>/dev/null | awk '/libasan/ { print $3 }')
if [ -n "$asan" ]; then
	LD_PRELOAD="$asan"
	ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
	TBW_PY_ASAN=1
	export LD_PRELOAD ASAN_OPTIONS TBW_PY_ASAN
fi
PYTHONPATH="${TBW_PY_PKGDIR:-$TBW_BUILDDIR/python}:$TBW_SRCDIR/tests/python"
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE
exec "$TBW_PYTHON" -m unittest -v "$mod"
