#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install into a scratch prefix, then build a small program against the
# installed headers and library through pkg-config, as C and as C++, and run it.
# Usage: install-check.sh [BUILDDIR]   (default: the build it was configured in)
set -u
build=$(cd "${1:-@BUILDROOT@}" && pwd)
dest=$(mktemp -d /tmp/regbuf-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { echo "FAIL install: $*"; echo "install: 0 passed, 1 failed, 0 skipped"; exit 1; }

meson install -C "$build" --destdir "$dest" >"$dest.log" 2>&1 || fail "meson install failed: $(tail -n 3 "$dest.log")"
rm -f "$dest.log"
pc=$(find "$dest" -name regbuf.pc | head -n 1)
[ -n "$pc" ] || fail "no regbuf.pc installed"
prefix=$(sed -n 's/^prefix=//p' "$pc")
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
export PKG_CONFIG_SYSROOT_DIR=$dest
cat >"$dest/use.c" <<'EOC'
#include <regbuf/regbuf.h>
#include <stdio.h>
int main(void)
{
	struct regbuf_seg segs[2] = { { 4096, 4096 }, { 65536, 100 } };
	struct regbuf_seg_iter it;

	if (regbuf_seg_iter_seek(&it, segs, 2, 4000, 196) < 0)
		return 1;
	regbuf_seg_iter_advance(&it, 96);
	printf("%llu\n", (unsigned long long)regbuf_seg_iter_mp(&it).addr);
	return regbuf_seg_iter_mp(&it).addr == 65536 ? 0 : 1;
}
EOC
cp "$dest/use.c" "$dest/use.cc"
read -r -a flags <<<"$(pkg-config --cflags --libs regbuf)" || fail "pkg-config --cflags --libs regbuf failed"
libdir=$(pkg-config --variable=libdir regbuf)
cc -std=gnu11 -Wall -Wextra -Werror "$dest/use.c" -o "$dest/use-c" "${flags[@]}" || fail "C program did not build"
c++ -Wall -Wextra -Werror -x c++ "$dest/use.cc" -o "$dest/use-cxx" "${flags[@]}" || fail "C++ program did not build"
LD_LIBRARY_PATH="$libdir" "$dest/use-c" >/dev/null || fail "C program failed against the installed library"
LD_LIBRARY_PATH="$libdir" "$dest/use-cxx" >/dev/null || fail "C++ program failed"
# Only regbuf_* may be exported.
so=$(find "$dest" -name 'libregbuf.so.*.*' | head -n 1)
bad=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDRBW]/ {print $3}' | grep -v -E '^(__)?regbuf_|^REGBUF_' || true)
[ -z "$bad" ] || fail "unexpected exported symbols: $(echo "$bad" | tr '\n' ' ' | head -c 300)"
echo "ok install_and_link_c_cxx (prefix $prefix)"
echo "install: 1 passed, 0 failed, 0 skipped"
