#!/bin/sh
# setup.sh -- install every Debian/Ubuntu package tbwal's build, tests, tools,
# binding, demo and benchmarks need. Idempotent: safe to rerun.
set -eu
PKGS="build-essential autoconf automake libtool pkg-config make
lmdb-utils zlib1g-dev libcmocka-dev
python3 python3-dev python3-protobuf python3-crc32c python3-numpy
python3-pip python3-setuptools python3-venv python3-nbformat
bindfs fuse3 clang libclang-rt-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	echo "setup: installing:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
	echo "setup: all packages present"
fi
