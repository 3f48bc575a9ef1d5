#!/bin/sh
# demo.sh -- set up, build and run the main job (for now: the build and its tools).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
echo "demo: build complete in $top/build"
