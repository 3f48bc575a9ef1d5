#!/bin/sh
# test.sh -- set up, build and run the whole test suite: make check, then
# (not under sanitizers) the pytest suites in tests/py (scripts/test-python.sh).
#   scripts/test.sh [--sanitizers]
# On failure the logs of failing tests are printed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
san=""
if [ "${1:-}" = "--sanitizers" ]; then san=1; fi
bdir=$top/build${san:+-asan}
"$top/scripts/build.sh" ${san:+--sanitizers} "$bdir"
cd "$bdir"
if ! make -j"$(nproc)" check; then
	for f in $(find . -name '*.log' ! -name 'test-suite.log' ! -name 'config.log'); do
		if grep -q '^FAIL\|^ERROR' "${f%.log}.trs" 2>/dev/null; then
			echo "==== $f"; tail -n 60 "$f"
		fi
	done
	exit 1
fi
if [ -z "$san" ]; then
	"$top/scripts/test-python.sh" "$bdir"
fi
