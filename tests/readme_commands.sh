#!/bin/sh
# readme_commands.sh -- run every command, snippet and notebook cell that
# README.md and examples/colab_tbwal.ipynb show (tests/readme_commands.py
# says how). A .ci/run stage, not part of make check: it runs the demo, and
# the README's second command is make check itself.
#   tests/readme_commands.sh [--skip-demo]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
exec /usr/bin/python3 "$top/tests/readme_commands.py" "$@"
