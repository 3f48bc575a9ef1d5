#!/bin/sh
# sources.sh -- make check entry: tests/packaging/test_sources.py (the pip
# build and the autotools build compile the same C sources; one version).
exec "${TBW_PYTHON:-/usr/bin/python3}" "$TBW_SRCDIR/tests/packaging/test_sources.py"
