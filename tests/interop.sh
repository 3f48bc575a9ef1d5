#!/bin/sh
# interop.sh -- make check wrapper for tests/interop_events.py: event files
# written by libtbwal (tests/gen_events) are decoded with Google's protobuf
# runtime and their CRCs checked with the crc32c module. Exit 77 (skip) only
# when the interpreter or its modules are missing (scripts/setup.sh installs
# python3-protobuf and python3-crc32c).
set -eu
top=${TBW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TBW_BUILDDIR:-.}
py=${TBW_PYTHON:-/usr/bin/python3}
if ! command -v "$py" >/dev/null 2>&1; then
	echo "SKIP: no Python interpreter at '$py' (scripts/setup.sh installs python3)"
	exit 77
fi
exec "$py" "$top/tests/interop_events.py" "$build/tests/gen_events"
