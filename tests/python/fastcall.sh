#!/bin/sh
# fastcall.sh -- make check entry: the binding's test_api.py against
# python/_tbwal.c built without the limited API (-DTBW_PY_FULL_API, the
# per-version build bench/bench_python.py abi compares with), where
# add_scalar is METH_FASTCALL | METH_KEYWORDS, so that argument path is
# tested as the METH_VARARGS one of the abi3 build is (tests/python/api.sh).
# Compiled as mk/python.am compiles _tbwal.so, linked with this build's
# libtbwal.so; the pure-Python files are the build's.
set -eu
: "${TBW_PYTHON:=/usr/bin/python3}"
: "${TBW_BUILDDIR:?run by make check}"
: "${TBW_SRCDIR:?run by make check}"
d=$TBW_BUILDDIR/python-fastcall
rm -rf "$d"
mkdir -p "$d/tbwal"
cp "$TBW_BUILDDIR"/python/tbwal/*.py "$d/tbwal/"
pyinc=$("$TBW_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
${CC:-cc} -shared -fPIC -O2 -std=gnu11 -Wall -Wextra -Werror -DTBW_PY_FULL_API -I"$pyinc" \
	-I"$TBW_SRCDIR/include" -o "$d/tbwal/_tbwal.so" "$TBW_SRCDIR/python/_tbwal.c" \
	-L"$TBW_BUILDDIR/.libs" -ltbwal -Wl,-rpath,"$TBW_BUILDDIR/.libs" -pthread
PYTHONPATH=$d "$TBW_PYTHON" -c 'from tbwal import _tbwal as m; assert m._fastcall == 1 and m._limited_api == 0, (m._fastcall, m._limited_api)'
TBW_PY_PKGDIR=$d
export TBW_PY_PKGDIR
exec sh "$TBW_SRCDIR/tests/python/run.sh" test_api
