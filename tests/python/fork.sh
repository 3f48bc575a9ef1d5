#!/bin/sh
# fork.sh -- make check entry: the Python binding's test_fork.py (see run.sh).
exec sh "$TBW_SRCDIR/tests/python/run.sh" test_fork
