#!/bin/sh
# varargs.sh -- make check entry: the binding's test_api.py against
# python/_tbwal.c built with -DTBW_PY_NO_FASTCALL, so add_scalar takes
# METH_VARARGS | METH_KEYWORDS as on CPython 3.9 (newer ones get
# METH_FASTCALL at import: tests/python/api.sh), and that argument path is
# tested here on whatever newer Python runs the suite. Compiled as
# mk/python.am compiles _tbwal.so (the stable ABI of 3.9), linked with this
# build's libtbwal.so; the pure-Python files are the build's.
set -eu
: "${TBW_PYTHON:=/usr/bin/python3}"
: "${TBW_BUILDDIR:?run by make check}"
: "${TBW_SRCDIR:?run by make check}"
d=$TBW_BUILDDIR/python-varargs
rm -rf "$d"
mkdir -p "$d/tbwal"
cp "$TBW_BUILDDIR"/python/tbwal/*.py "$d/tbwal/"
pyinc=$("$TBW_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
${CC:-cc} -shared -fPIC -O2 -std=gnu11 -Wall -Wextra -Werror -DTBW_PY_NO_FASTCALL -I"$pyinc" \
	-I"$TBW_SRCDIR/include" -o "$d/tbwal/_tbwal.so" "$TBW_SRCDIR/python/_tbwal.c" \
	-L"$TBW_BUILDDIR/.libs" -ltbwal -Wl,-rpath,"$TBW_BUILDDIR/.libs" -pthread
TBW_PY_PKGDIR=$d
TBW_PY_NO_FASTCALL=1      # what test_api expects of _tbwal._fastcall
export TBW_PY_PKGDIR TBW_PY_NO_FASTCALL
exec sh "$TBW_SRCDIR/tests/python/run.sh" test_api
