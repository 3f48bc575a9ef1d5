#!/bin/sh
# setup.sh -- install the Debian/Ubuntu packages a task needs, by group;
# idempotent (installs only what is missing). Names valid on Debian 12 and 13.
#   scripts/setup.sh [GROUP...]      (no group: every group)
# Groups:
#   build  compile the library, tools and binding (scripts/build.sh), and pip
#          with Debian's python3 (scripts/demo.sh)
#   test   the test suite's extra programs and Python modules (scripts/test.sh)
#   fuse   bindfs and fuse3 for tests/test_sync_fuse (scripts/test.sh); fuse3
#          replaces the older `fuse` package, so nothing else installs it
#   fuzz   clang and libFuzzer (scripts/fuzz.sh)
# Python users need none of these: `pip install .` needs only a C compiler,
# Python's headers and zlib's (doc/packaging.md).
set -eu
group_pkgs() {
	case $1 in
	build) echo "build-essential autoconf automake libtool pkg-config make zlib1g-dev
		libcmocka-dev python3 python3-dev python3-pip python3-setuptools python3-wheel
		python3-venv" ;;
	test) echo "lmdb-utils python3-protobuf python3-crc32c python3-numpy python3-nbformat" ;;
	fuse) echo "bindfs fuse3" ;;
	fuzz) echo "clang libclang-rt-dev" ;;
	*) echo "setup: unknown group '$1' (build, test, fuse, fuzz)" >&2; return 1 ;;
	esac
}
[ $# -gt 0 ] || set -- build test fuse fuzz
PKGS=""
for g in "$@"; do
	PKGS="$PKGS $(group_pkgs "$g")" || exit 1
done
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	echo "setup ($*): installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
	echo "setup ($*): all packages present"
fi
