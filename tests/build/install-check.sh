#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Install into a temporary prefix (meson install --destdir), then use the
# installed copy only, as a user would after 'meson install':
#  - the installed headers are exactly the public ones (nothing else, none missing);
#  - pkg-config --cflags --libs regbuf builds every example in examples/ and a
#    small program, as C and as C++, with no source or build directory on the
#    include or library path; the examples that need no device are run, linked
#    to the installed libregbuf.so;
#  - regbuf.pc requires liburing exactly when the uring layer was built;
#  - the installed regbuf CLI starts from its own rpath (no LD_LIBRARY_PATH)
#    and loads the installed library: regbuf --help, regbuf info;
#  - 'regbuf bench' runs the installed lab (-Dbench=install), or says how to
#    get it; the fio engine, when built, is in <libdir>/regbuf/;
#  - no installed program embeds a path of the source or build tree.
# Usage: install-check.sh [BUILDDIR]   (default: the build it was configured in)
set -u
src='@SRCROOT@'
build=$(cd "${1:-@BUILDROOT@}" && pwd)
have_uring='@HAVE_URING@'
examples='@EXAMPLES@'
headers='@HEADERS@'
fio_engine='@FIO_ENGINE@'
bench='@BENCH@'
dest=$(mktemp -d /tmp/regbuf-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
passed=0 failed=0 skipped=0
ok() { echo "ok $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
finish() {
    echo "install: $passed passed, $failed failed, $skipped skipped"
    [ "$failed" = 0 ]
    exit
}

if ! meson install -C "$build" --destdir "$dest/root" >"$dest/install.log" 2>&1; then
    fail meson_install "$(tail -n 3 "$dest/install.log")"
    finish
fi
pc=$(find "$dest/root" -name regbuf.pc | head -n 1)
if [ -z "$pc" ]; then
    fail meson_install "no regbuf.pc installed"
    finish
fi
ok meson_install

# What a user exports after installing into a prefix; the sysroot maps the
# .pc's prefix (the configured one) into the temporary tree.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR=$dest/root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
staged() { # a .pc variable as a path in the temporary tree (pkgconf may add the sysroot itself)
    local v
    v=$(pkg-config --variable="$1" regbuf)
    case $v in "$dest/root"/*) echo "$v" ;; *) echo "$dest/root$v" ;; esac
}
prefix=$(staged prefix)
libdir=$(staged libdir)
incdir=$(staged includedir)

# -- installed headers: the public ones, nothing else
want=$(for h in $headers; do echo "$h"; done | sort)
got=$(find "$incdir/regbuf" -type f -printf '%f\n' 2>/dev/null | sort)
srcwant=$(find "$src/include/regbuf" -maxdepth 1 -name '*.h' -printf '%f\n' | sort)
[ "$have_uring" = 1 ] || srcwant=$(grep -vx 'uring.h' <<<"$srcwant")
missing=$(comm -23 <(sort -u <<<"$srcwant"$'\n'"$want") <(echo "$got"))
extra=$(comm -13 <(sort -u <<<"$srcwant"$'\n'"$want") <(echo "$got"))
if [ -n "$missing$extra" ]; then
    fail installed_headers "missing: ${missing//$'\n'/ } extra: ${extra//$'\n'/ } (list headers in include/regbuf/meson.build)"
else
    ok installed_headers
fi

# -- regbuf.pc: liburing public exactly when the uring layer is built
req=$(pkg-config --print-requires regbuf 2>&1)
reqp=$(pkg-config --print-requires-private regbuf 2>&1)
if [ "$have_uring" = 1 ] && ! grep -qw liburing <<<"$req"; then
    fail pc_requires "uring layer built but Requires: has no liburing ($req)"
elif [ "$have_uring" = 0 ] && grep -qw liburing <<<"$req$reqp"; then
    fail pc_requires "no uring layer but regbuf.pc requires liburing"
else
    ok pc_requires
fi

if ! flags=$(pkg-config --cflags --libs regbuf); then
    fail pkg_config "pkg-config --cflags --libs regbuf failed"
    finish
fi
read -r -a flagv <<<"$flags"
case " $flags " in
*"$src"* | *"$build"*)
    fail pkg_config "flags name the source or build tree: $flags" ;;
*) ok pkg_config ;;
esac

# Built in a directory of its own, with no -I/-L but pkg-config's.
work=$dest/work
mkdir -p "$work"
# The installed library, and nothing else, at run time.
run_installed() { LD_LIBRARY_PATH=$libdir "$@"; }
loads_installed() { # binary: the libregbuf.so.0 it loads is the installed one
    local so
    so=$(LD_LIBRARY_PATH=${2:-} ldd "$1" | awk '/libregbuf\.so/ { print $3 }')
    [ "$(readlink -f "$so")" = "$(readlink -f "$libdir/libregbuf.so.0")" ]
}

cat >"$work/use.c" <<'EOC'
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

build_one() { # name source lang -> binary path in $work, or fails with the compiler output
    local name=$1 file=$2 lang=$3 out=$work/$1-$3
    if [ "$lang" = c ]; then
        cc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread "$file" -o "$out" "${flagv[@]}" \
            >"$out.log" 2>&1
    else
        c++ -std=gnu++20 -O2 -Wall -Wextra -Werror -pthread -x c++ "$file" -x none -o "$out" \
            "${flagv[@]}" >"$out.log" 2>&1
    fi || { fail "build_${name//-/_}_$lang" "$(head -c 600 "$out.log")"; return 1; }
    if ! loads_installed "$out" "$libdir"; then
        fail "build_${name//-/_}_$lang" "does not load $libdir/libregbuf.so.0: $(ldd "$out" | grep regbuf)"
        return 1
    fi
    ok "build_${name//-/_}_$lang"
}

for lang in c cxx; do
    build_one use "$work/use.c" "$lang" || continue
    if run_installed "$work/use-$lang" >/dev/null; then
        ok "run_use_$lang"
    else
        fail "run_use_$lang" "exit $?"
    fi
done

for e in $examples; do
    name=${e%%:*}
    mode=${e#*:}
    # A copy: the compiler must not find anything next to the source either.
    cp "$src/examples/$name.c" "$work/$name.c"
    for lang in c cxx; do
        build_one "$name" "$work/$name.c" "$lang" || continue
        if [ "$mode" != run ] || [ "$lang" != c ]; then continue; fi
        # A directory that takes O_DIRECT, for the examples that write a file.
        if out=$(cd "$work" && run_installed "$work/$name-$lang" "$work" 2>&1); then
            ok "run_${name//-/_}"
            head -n 4 <<<"$out" | while IFS= read -r line; do echo "# $line"; done
        else
            fail "run_${name//-/_}" "exit $?: $(tail -n 3 <<<"$out")"
        fi
    done
done

# -- the installed CLI: its rpath finds the installed library from any prefix
cli=$prefix/bin/regbuf
if [ ! -x "$cli" ]; then
    fail cli_installed "no $cli"
elif ! loads_installed "$cli"; then
    fail cli_rpath "the installed regbuf does not find $libdir/libregbuf.so.0 by itself: $(ldd "$cli" | grep regbuf) (RUNPATH $(readelf -d "$cli" | sed -n 's/.*runpath: //Ip'))"
elif ! out=$(env -u LD_LIBRARY_PATH "$cli" --help 2>&1) || ! grep -q 'usage: regbuf' <<<"$out"; then
    fail cli_help "regbuf --help: $out"
elif ! out=$(env -u LD_LIBRARY_PATH "$cli" info 2>&1) || ! grep -q '^regbuf_version:' <<<"$out"; then
    fail cli_info "regbuf info: $(head -c 300 <<<"$out")"
else
    ok cli_rpath_help_info
fi

# -- regbuf bench: the lab when installed, else a message that says how to get it
out=$(env -u REGBUF_BENCH -u LD_LIBRARY_PATH "$cli" bench --help 2>&1)
rc=$?
if [ "$bench" = install ]; then
    if [ "$rc" = 0 ] && grep -q 'usage: regbuf bench' <<<"$out"; then
        ok cli_bench_runs_lab
    else
        fail cli_bench_runs_lab "regbuf bench --help: exit $rc: $(head -c 300 <<<"$out")"
    fi
elif [ "$rc" = 1 ] && grep -q -- '-Dbench=install' <<<"$out"; then
    ok cli_bench_says_how
else
    fail cli_bench_says_how "regbuf bench --help without the lab: exit $rc: $(head -c 300 <<<"$out")"
fi

# -- the fio engine: installed where the README says
if [ "$fio_engine" = 1 ]; then
    if [ -f "$libdir/regbuf/regbuf-fio.so" ]; then
        ok fio_engine_installed
    else
        fail fio_engine_installed "no $libdir/regbuf/regbuf-fio.so"
    fi
fi

# -- nothing installed refers to the source or build tree (strings in .rodata;
#    debug info names source files by design)
bad=
while IFS= read -r f; do
    readelf -p .rodata "$f" 2>/dev/null | grep -q -e "$src" -e "$build" && bad+=" ${f#"$dest/root"}"
done < <(find "$dest/root" -type f -exec sh -c 'head -c 4 "$1" | grep -q ELF' _ {} \; -print)
if [ -n "$bad" ]; then
    fail no_tree_paths "installed files embed $src or $build:$bad"
else
    ok no_tree_paths
fi

# -- only regbuf names leave the library (test-abi checks the exact list)
so=$(find "$dest/root" -name 'libregbuf.so.*.*' | head -n 1)
bad=$(nm -D --defined-only "$so" | awk '$2 ~ /[TDRBW]/ {print $3}' | grep -v -E '^(__)?regbuf_' || true)
if [ -n "$bad" ]; then
    fail exported_prefix "unexpected exported symbols: $(tr '\n' ' ' <<<"$bad" | head -c 300)"
else
    ok exported_prefix
fi
echo "# installed into $prefix (temporary)"
finish
