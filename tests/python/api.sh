#!/bin/sh
# api.sh -- make check entry: the Python binding's test_api.py (see run.sh).
exec sh "$TBW_SRCDIR/tests/python/run.sh" test_api
