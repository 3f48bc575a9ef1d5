#!/bin/sh
# run.sh -- the packaging stage of scripts/test.sh: build tbwal's sdist and
# wheel, pip-install it every way doc/packaging.md promises, and check each
# installation (tests/packaging/smoke.py: import, a scalar logged, the tools
# on PATH). Against the sdist's and the wheel's installs it also runs the
# Python suite tests/python and compares the installed tools with the
# autotools-built ones (compare_tools.sh).
#   tests/packaging/run.sh [--dist DIR] [--keep]
# --dist DIR: leave the sdist and the wheel there (scripts/test.sh installs
# the wheel into the pinned test venv next). Uses: python3 (the pyenv
# interpreter on PATH, or $TBW_PIP_PYTHON), Debian's /usr/bin/python3, the
# test venv's python for `python -m build` ($TBW_VENV, made by
# scripts/venv.sh), the autotools build in $TBW_BUILDDIR (default build/).
# PyPI is used for build isolation and the small venvs' test packages.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
dist=""
keep=""
while [ $# -gt 0 ]; do
	case $1 in
	--dist) dist=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	*) echo "usage: tests/packaging/run.sh [--dist DIR] [--keep]" >&2; exit 2 ;;
	esac
done
bdir=$(cd "${TBW_BUILDDIR:-$top/build}" && pwd)
venv=${TBW_VENV:-$top/build/venv}
py=${TBW_PIP_PYTHON:-python3}
debpy=/usr/bin/python3
jobs=${TBW_BUILD_JOBS:-2}
export TBW_BUILD_JOBS=$jobs PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
	PYTHONDONTWRITEBYTECODE=1
unset PYTHONPATH PIP_TARGET PIP_NO_INDEX PIP_UPGRADE 2>/dev/null || true
ver=$("$top/scripts/version.sh" "$top")
s=$(mktemp -d "${TMPDIR:-/tmp}/tbw-pkg.XXXXXX")
if [ -z "$keep" ]; then trap 'rm -rf "$s"' EXIT; else echo "packaging: scratch kept in $s"; fi
[ -n "$dist" ] || dist=$s/dist
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
rm -f "$dist"/tbwal-*.tar.gz "$dist"/tbwal-*.whl
t0=$(date +%s)
step() { echo "== packaging: $* ($(($(date +%s) - t0)) s)"; }
pip_q() { v_=$1; shift; "$v_/bin/python" -m pip -q "$@"; }
newvenv() { rm -rf "$2"; "$1" -m venv ${3:-} "$2"; }
smoke() { (cd "$s" && "$1/bin/python" "$top/tests/packaging/smoke.py" "$ver"); }

step "sdist: python -m build --sdist"
"$venv/bin/python" -m build -q --sdist --outdir "$dist" "$top" >"$s/sdist.log" 2>&1 ||
	{ tail -n 40 "$s/sdist.log"; exit 1; }
sdist=$(ls "$dist"/tbwal-"$ver".tar.gz)
# The sdist holds what setup.py builds, and none of a configured tree's files.
tar tzf "$sdist" >"$s/sdist.list"
for f in pyproject.toml setup.py Makefile.am mk/lmdb.am include/tbwal.h src/api/writer.c \
	third_party/lmdb/mdb.c python/_tbwal.c python/tbwal/__init__.py python/tbwal/__main__.py \
	tools/tbrecover.c; do
	grep -q "^tbwal-$ver/$f\$" "$s/sdist.list" || { echo "packaging: $f is not in $sdist"; exit 1; }
done
if grep -E '\.(o|lo|la|so)$|/config\.h$|/build/' "$s/sdist.list"; then
	echo "packaging: the sdist holds build products"; exit 1
fi

step "wheel: pip wheel . (build isolation, build requirements from PyPI)"
"$py" -m pip wheel -q --no-deps -w "$dist" "$top" >"$s/wheel.log" 2>&1 || { tail -n 40 "$s/wheel.log"; exit 1; }
whl=$(ls "$dist"/tbwal-"$ver"-cp39-abi3-*.whl)
echo "   $(basename "$whl")"

step "the wheel into a new venv with --no-index"
newvenv "$py" "$s/v-wheel"
pip_q "$s/v-wheel" install --no-index "$whl"
smoke "$s/v-wheel"
# The installed extension holds the library, yet nm shows no internal
# (tbw__) symbol in it, defined or referenced; its public tbw_ calls are there.
ext=$("$s/v-wheel/bin/python" -c 'import tbwal._tbwal as m; print(m.__file__)')
if { nm "$ext" 2>/dev/null; nm -D "$ext"; } | grep -E '(^|[ _])tbw__' | head -n 5 | grep .; then
	echo "packaging: the installed extension $ext shows internal tbw__ symbols (above)"; exit 1
fi
nm -D "$ext" | grep -q ' tbw_open$' || { echo "packaging: no tbw_open in $ext (is it the right file?)"; exit 1; }
echo "   nm: no tbw__ symbol in the installed extension"

# One wheel for every CPython >= 3.9 (abi3): the oldest (3.9) and the newest
# CPython that pyenv has here take the same wheel; 3.8 must refuse it.
if command -v pyenv >/dev/null 2>&1; then
	r=$(pyenv root)
	newest=$(cd "$r/versions" 2>/dev/null && ls -d 3.* | sort -t. -k1,1n -k2,2n | tail -n 1)
	for other in "$r"/versions/3.8*/bin/python3 "$r"/versions/3.9*/bin/python3 "$r/versions/$newest/bin/python3"; do
		[ -x "$other" ] || continue
		ov=$("$other" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
		[ "$ov" != "$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ] || continue
		case $ov in 3.[0-7]) continue ;; 3.8) old=1 ;; *) old="" ;; esac
		step "the same wheel into a Python $ov venv"
		newvenv "$other" "$s/v-py$ov"
		if [ -n "$old" ]; then
			if "$s/v-py$ov/bin/python" -m pip -q install --no-index "$whl" >"$s/py$ov.log" 2>&1; then
				echo "packaging: the wheel installed into Python $ov (requires-python >= 3.9)"; exit 1
			fi
			echo "   refused, as it must: $(grep -m1 -i 'requires' "$s/py$ov.log" || tail -n 1 "$s/py$ov.log")"
		else
			pip_q "$s/v-py$ov" install --no-index "$whl"
			smoke "$s/v-py$ov"
		fi
		rm -rf "$s/v-py$ov"
	done
fi

step "the sdist into a clean venv (a C compiler and Python's headers only; build isolation)"
newvenv "$py" "$s/v-sdist"
pip_q "$s/v-sdist" install "$sdist"
smoke "$s/v-sdist"

# The sdist and the wheel above are built as users get them. The cases below
# only show that an install works there, so they compile without optimisation
# (CFLAGS=-O0: a third of the time on this 2-core machine).
fast="CFLAGS=-O0"

step "pip install --no-build-isolation . (setuptools and wheel installed first)"
newvenv "$py" "$s/v-noiso"
pip_q "$s/v-noiso" install -r "$top/tests/packaging/build-requirements.txt"
env $fast "$s/v-noiso/bin/python" -m pip -q install --no-build-isolation "$top"
smoke "$s/v-noiso"

step "Debian's $debpy: a venv over its site-packages, Debian's own setuptools ($($debpy -c 'import setuptools; print(setuptools.__version__)'))"
newvenv "$debpy" "$s/v-debian" --system-site-packages
env $fast "$s/v-debian/bin/python" -m pip -q install --no-build-isolation "$top"
smoke "$s/v-debian"

step "a copy of the tree configured and built in place (./configure && make), then pip install ."
mkdir "$s/inplace"
(cd "$top" && { git ls-files -co --exclude-standard 2>/dev/null || find . -type f ! -path './build*'; } |
	grep -v '^build' | tar cf - -T -) | (cd "$s/inplace" && tar xf -)
(cd "$s/inplace" && autoreconf -fi >/dev/null 2>&1 && ./configure -q $fast >"$s/configure.log" 2>&1 &&
	make -s -j"$jobs" >"$s/make.log" 2>&1) || { tail -n 30 "$s/configure.log" "$s/make.log"; exit 1; }
ls "$s/inplace/config.h" "$s/inplace/src/"*/*.lo >/dev/null
newvenv "$py" "$s/v-inplace"
env $fast "$s/v-inplace/bin/python" -m pip -q install "$s/inplace"
smoke "$s/v-inplace"
# and the in-place autotools build is still intact
make -s -C "$s/inplace" -j"$jobs" >/dev/null
"$s/inplace/tools/tbstat" --help >/dev/null

# The Python suite and the tool comparison against the sdist's and the wheel's installs.
for art in wheel sdist; do
	v=$s/v-$art
	step "$art install: tests/python (unittest) and the tools against the autotools build"
	pip_q "$v" install -r "$top/tests/packaging/requirements.txt"
	(cd "$s" && PYTHONPATH="$top/tests/python" TBW_SRCDIR="$top" TBW_BUILDDIR="" \
		TBW_TBRECOVER="$v/bin/tbrecover" "$v/bin/python" -m unittest -q test_api test_fork test_crash) \
		>"$s/unittest-$art.log" 2>&1 || { tail -n 60 "$s/unittest-$art.log"; exit 1; }
	tail -n 3 "$s/unittest-$art.log" | sed 's/^/   /'
	sh "$top/tests/packaging/compare_tools.sh" "$v/bin" "$bdir" >"$s/compare-$art.log" 2>&1 ||
		{ cat "$s/compare-$art.log"; exit 1; }
	tail -n 1 "$s/compare-$art.log" | sed 's/^/   /'
done
step "all pip installs work"
