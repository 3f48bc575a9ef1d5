#!/bin/sh
# test.sh -- the README's test command: set up, build and run the whole test
# suite:
#   1. make check (the C tests, the Python binding's unittests against the
#      autotools-built module, the source-list check of the pip build);
#   2. (not under sanitizers) the packaging stage, tests/packaging/run.sh:
#      build the sdist and the wheel, pip-install them every supported way,
#      run tests/python and the tool comparison against the sdist's and the
#      wheel's installs (fresh small venvs);
#   3. the pytest suites of tests/py against the wheel installed into a venv
#      over the pinned test venv (scripts/test-python.sh --wheel; $TBW_VENV,
#      default build/venv, made by scripts/venv.sh);
#   4. examples/colab_tbwal.ipynb under a Jupyter kernel in that venv
#      (tests/packaging/run_notebook.py).
#   scripts/test.sh [--sanitizers]
# On failure the logs of failing tests are printed.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
san=""
if [ "${1:-}" = "--sanitizers" ]; then san=1; fi
bdir=$top/build${san:+-asan}
"$top/scripts/setup.sh" build test fuse
"$top/scripts/build.sh" ${san:+--sanitizers} "$bdir"
cd "$bdir"
if ! make -j"$(nproc)" check; then
	for f in $(find . -name '*.log' ! -name 'test-suite.log' ! -name 'config.log'); do
		if grep -q '^:test-result: \(FAIL\|ERROR\)' "${f%.log}.trs" 2>/dev/null; then
			# the failing checks (cmocka, sanitizers), then the log's end
			echo "==== $f"
			grep -n -A6 '^\[   LINE   \]\|^\[  FAILED  \]\|^\[  ERROR   \]\|^ERROR\|FAIL\|runtime error\|AddressSanitizer' "$f" | head -n 60
			echo "---- its last lines"; tail -n 30 "$f"
		fi
	done
	exit 1
fi
if [ -z "$san" ]; then
	venv=${TBW_VENV:-$top/build/venv}
	"$top/scripts/venv.sh" "$venv"
	TBW_BUILDDIR=$bdir TBW_VENV=$venv "$top/tests/packaging/run.sh" --dist "$bdir/dist"
	whl=$(ls "$bdir"/dist/tbwal-*.whl)
	TBW_VENV=$venv "$top/scripts/test-python.sh" "$bdir" --wheel "$whl"
	echo "== the Colab notebook under a Jupyter kernel"
	(cd "$bdir" && "$bdir/venv-wheel/bin/python" "$top/tests/packaging/run_notebook.py")
fi
echo "test.sh: all stages passed"
