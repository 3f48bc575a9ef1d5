#!/bin/sh
# layers.sh -- the layers of src/ only look down (doc/architecture.md):
# a file in src/<layer> includes internal headers of its own layer or of the
# layers below it, never above; export and sync are siblings that do not
# include each other. Fails naming each include that breaks the rule.
set -eu
top=${TBW_SRCDIR:-$(cd "$(dirname "$0")/.." && pwd)}
rank() {
	case $1 in
	base) echo 0 ;; format) echo 1 ;; journal) echo 2 ;;
	export) echo 3 ;; sync) echo 3 ;; recover) echo 4 ;; api) echo 5 ;;
	*) echo "layers.sh: unknown layer '$1' (add it to tests/layers.sh and doc/architecture.md)" >&2
	   exit 1 ;;
	esac
}
bad=0
for dir in "$top"/src/*/; do
	layer=$(basename "$dir")
	mine=$(rank "$layer")
	for f in "$dir"*.c "$dir"*.h; do
		[ -e "$f" ] || continue
		for inc in $(sed -n 's/^#include "\([a-z]*\)\/[^"]*".*/\1/p' "$f"); do
			theirs=$(rank "$inc")
			if [ "$inc" != "$layer" ] && [ "$theirs" -ge "$mine" ]; then
				echo "layers: src/$layer/$(basename "$f") includes $inc/ (layer $inc is not below $layer)"
				bad=1
			fi
		done
		# every internal include names its layer
		if grep -n '^#include "[a-z_0-9]*\.h"' "$f" | grep -v '"config.h"\|"tbwal.h"' >/dev/null; then
			echo "layers: src/$layer/$(basename "$f") includes an internal header without its layer:"
			grep -n '^#include "[a-z_0-9]*\.h"' "$f" | grep -v '"config.h"\|"tbwal.h"'
			bad=1
		fi
	done
done
[ $bad -eq 0 ] && echo "layers: every include in src/ looks down"
exit $bad
