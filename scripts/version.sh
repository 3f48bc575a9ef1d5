#!/bin/sh
# version.sh -- print tbwal's version, TBW_VERSION_STRING in include/tbwal.h:
# the one place it is written. configure.ac (AC_INIT, through m4_esyscmd_s)
# and setup.py (the Python package) both read it from there.
#   scripts/version.sh [TOP]
set -eu
top=${1:-$(cd "$(dirname "$0")/.." && pwd)}
v=$(sed -n 's/^#define TBW_VERSION_STRING "\(.*\)"$/\1/p' "$top/include/tbwal.h")
if [ -z "$v" ]; then
	echo "version.sh: no TBW_VERSION_STRING in $top/include/tbwal.h" >&2
	exit 1
fi
printf '%s\n' "$v"
