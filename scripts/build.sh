#!/bin/sh
# build.sh -- install dependencies (scripts/setup.sh), then configure and
# build tbwal out of tree.
#   scripts/build.sh [--sanitizers] [BUILD_DIR]   (default build/ or build-asan/)
# Extra configure flags may be given in TBW_CONFIGURE_FLAGS (CI: --enable-werror).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
san=""
if [ "${1:-}" = "--sanitizers" ]; then san=1; shift; fi
bdir=${1:-$top/build${san:+-asan}}
"$top/scripts/setup.sh" build
# configure takes its version from include/tbwal.h: regenerate it when that changed.
if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ] ||
	! grep -q "^PACKAGE_VERSION='$("$top/scripts/version.sh" "$top")'\$" "$top/configure"; then
	(cd "$top" && autoreconf -fi)
fi
mkdir -p "$bdir"
cd "$bdir"
if [ ! -f Makefile ] || [ "$top/configure" -nt config.status ]; then
	"$top/configure" ${san:+--enable-sanitizers} ${TBW_CONFIGURE_FLAGS:-}
fi
make -j"$(nproc)"
