#!/bin/sh
# installed_symbols.sh -- every installed executable (bin_PROGRAMS, and the
# Python extension) uses only the public API of tbwal.h: nm shows no tbw__
# symbol in it, defined or referenced. They link the installed libtbwal
# (libtool builds them against the shared library; "libtool --mode=execute
# nm" looks at the real binary behind the wrapper script). The installed
# library itself exports only tbw_[a-z]* (checked too).
set -u
B=${TBW_BUILDDIR:-.}
LIBTOOL=${TBW_LIBTOOL:-$B/libtool}
NM=${TBW_NM:-nm}
fails=0
checked=0

check() { # check LABEL FILE [NM_ARGS]
	label=$1; f=$2; shift 2
	syms=$(cd "$B" && $LIBTOOL --mode=execute $NM "$@" "$f" 2>&1) || {
		echo "FAIL: $label: nm failed: $syms"; fails=$((fails+1)); return; }
	bad=$(printf '%s\n' "$syms" | grep -E '(^|[ _])tbw__[A-Za-z0-9_]*' | head -5)
	n=$(printf '%s\n' "$syms" | grep -cE ' tbw_[a-z]')
	if [ -n "$bad" ]; then
		echo "FAIL: $label has internal symbols:"; printf '%s\n' "$bad"
		fails=$((fails+1))
	elif [ "$n" -eq 0 ]; then
		echo "FAIL: $label references no tbw_ symbol at all (is it the right file?)"
		fails=$((fails+1))
	else
		echo "ok: $label: no tbw__ symbol ($n public tbw_ symbols)"
	fi
	checked=$((checked+1))
}

for p in ${TBW_BIN_PROGRAMS:-tools/tbcompact tools/tbrecover tools/tbstat tools/tbsync}; do
	check "$p" "$p"
done
if [ -f "$B/python/tbwal/_tbwal.so" ]; then
	check "python extension" python/tbwal/_tbwal.so
else
	echo "FAIL: python/tbwal/_tbwal.so was not built"; fails=$((fails+1))
fi
# The library: its dynamic symbol table exports the public API only.
lib=$(ls "$B"/.libs/libtbwal.so.* 2>/dev/null | head -1)
if [ -n "$lib" ]; then
	exp=$($NM -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | grep -v '^tbw_[a-z]' | grep -v '^_' | head -5)
	if [ -n "$exp" ]; then echo "FAIL: libtbwal.so exports non-API symbols:"; echo "$exp"; fails=$((fails+1));
	else echo "ok: libtbwal.so exports only tbw_[a-z]*"; fi
fi
[ "$checked" -ge 5 ] || { echo "FAIL: only $checked executables checked"; fails=$((fails+1)); }
[ $fails -eq 0 ] || exit 1
