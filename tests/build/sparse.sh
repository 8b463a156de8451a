#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs sparse (the kernel's semantic checker) over every library source:
# regbuf_le16/32/64 and regbuf_iova_t are __bitwise types under sparse
# (REGBUF_BITWISE in include/regbuf/compiler.h), so a wire value used as a
# host integer, or a device address mixed with a host pointer or count,
# without regbuf_le*_to_cpu() / regbuf_iova_u64() is a warning.  Passes with
# zero warnings and errors in the repository's own files; diagnostics inside
# /usr/include (glibc and uapi headers defining the same macros) are not
# ours and are not counted, as the compiler does not report them either.
# Test-harness contract: exit 0/1/77, last line "sparse: N passed, N failed, N skipped".
src=@SRCROOT@
build=@BUILDROOT@
if ! command -v sparse >/dev/null 2>&1; then
	echo "skip: sparse is not installed (apt-get install sparse)"
	echo "sparse: 0 passed, 0 failed, 1 skipped"
	exit 77
fi
pass=0 fail=0
out=$(mktemp) || exit 99
trap 'rm -f "$out"' EXIT
for f in $(cd "$src" && find src -name '*.c' | sort); do
	# _Atomic(T) as a type specifier is C11 that sparse 0.6.4 does not parse;
	# the equivalent qualifier form is.
	sparse -D_GNU_SOURCE '-D_Atomic(t)=t _Atomic' -Wbitwise -Wcast-to-as \
		-I"$src/include" -I"$src/src" -I"$build" -I"$build/src" "$src/$f" >"$out" 2>&1
	if grep -E "^($src/)?(src|include)/[^:]*:[0-9]+:[0-9]+: (warning|error)" "$out" >/dev/null; then
		echo "FAIL $f"
		grep -E "^($src/)?(src|include)/" "$out" | sed 's/^/# /'
		fail=$((fail + 1))
	else
		echo "ok $f"
		pass=$((pass + 1))
	fi
done
echo "sparse: $pass passed, $fail failed, 0 skipped"
[ "$fail" -eq 0 ]
