#!/bin/sh
# crash.sh -- make check entry: the Python binding's test_crash.py (see run.sh).
exec sh "$TBW_SRCDIR/tests/python/run.sh" test_crash
