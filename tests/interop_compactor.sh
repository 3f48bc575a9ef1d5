#!/bin/sh
# interop_compactor.sh -- make check wrapper: compactor output (made by
# tests/gen_compactor_events) decoded with Google's protobuf runtime and its
# CRCs checked with the crc32c module, by tests/interop_events.py --compactor.
set -eu
top=${TBW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${TBW_BUILDDIR:-.}
py=${TBW_PYTHON:-/usr/bin/python3}
if ! command -v "$py" >/dev/null 2>&1; then
	echo "SKIP: no Python interpreter at '$py' (scripts/setup.sh installs python3)"
	exit 77
fi
exec "$py" "$top/tests/interop_events.py" --compactor "$build/tests/gen_compactor_events"
