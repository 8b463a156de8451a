#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/fio-source.sh [CACHE] - fetch the source of the fio that apt installs,
# configure it like Debian's binary and build t/io_uring and fio from it.
#
# An external fio engine is compiled against fio's own headers, and the layout
# of the structs it touches depends on the CONFIG_* macros fio's configure
# writes into config-host.h (libaio, POSIX AIO and rdma change struct io_u).
# Debian ships no fio headers, so this takes Debian's source package for the
# installed (or candidate) fio version, applies Debian's patches and runs
# configure with the flags of debian/rules.  --enable-gfio and --enable-libnbd
# are left out: they only add the GTK front end and the nbd engine, no struct
# the engine reads, and would pull GTK and libnbd development packages.
#
# The sources list is private (it names only the archive this machine's apt
# already uses for its Debian release) and so are the package lists: the
# system's apt state is not touched.
#
# Result: CACHE/tree -> CACHE/fio-<version>, a configured tree with
# t/io_uring and fio built (the device suite runs that fio in its guest: it
# needs a few libraries where Debian's binary links ~80 MB of them); CACHE
# defaults to .cache/fio in the repository, where the meson build looks for
# it.  Prints the tree's path.  When the tree for the same Debian version is
# already there, only builds fio if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${1:-.cache/fio}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

die() {
    echo "fio-source: $*" >&2
    exit 1
}

# The Debian version to match: the installed fio, else what apt would install.
debver=$(dpkg-query -W -f='${Version}' fio 2>/dev/null || true)
[ -n "$debver" ] || debver=$(apt-cache policy fio 2>/dev/null | awk '/Candidate:/ { print $2 }')
if [ -z "$debver" ] || [ "$debver" = "(none)" ]; then die "apt knows no fio package"; fi
upver=${debver#*:}
upver=${upver%-*}
tree=$cache/fio-$upver
stamp=$tree/.regbuf-debian-version

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$debver" ] && [ -x "$tree/t/io_uring" ]; then
    # a tree made before fio itself was built here
    if [ ! -x "$tree/fio" ]; then
        make -C "$tree" -s -j2 fio >"$tree/make-fio.log" 2>&1 ||
            { tail -n 30 "$tree/make-fio.log" >&2; die "building fio failed"; }
    fi
    ln -sfn "fio-$upver" "$cache/tree"
    echo "$tree"
    exit 0
fi

. /etc/os-release
codename=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}

# The URI of a "deb" entry for $codename's main component, from one-line
# (.list) and deb822 (.sources) files.
archive_uri() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk -v c="$codename" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == c) for (j = i + 2; j <= NF; j++) if ($j == "main") { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v c="$codename" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " c " ") &&
                    (" " comps " ") ~ / main /) { split(uris, u, " "); print u[1]; found = 1 }
                types = suites = comps = uris = ""
            }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
            /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
            /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            /^Components:/ { sub(/^Components:[ \t]*/, ""); comps = $0 }
            END { if (!found) flush() }' "$f"
    done
}
uri=$(archive_uri | head -n 1)
[ -n "$uri" ] || die "no 'deb $codename main' entry in /etc/apt/sources.list(.d)"

work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
opt=""
[ -f "$keyring" ] && opt="[signed-by=$keyring] "
echo "deb-src $opt$uri $codename main" >"$work/sources.list"
apt_private=(-q -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache")

echo "fio-source: fetching fio $debver source from $uri" >&2
apt-get "${apt_private[@]}" update >"$work/update.log" 2>&1 ||
    { cat "$work/update.log" >&2; die "apt-get update of the deb-src list failed"; }
(cd "$work" && apt-get "${apt_private[@]}" source --download-only "fio=$debver" >source.log 2>&1) ||
    { cat "$work/source.log" >&2; die "apt-get source fio=$debver failed"; }

rm -rf "$tree"
tar -C "$work" -xf "$work/fio_$upver.orig.tar.gz"
[ -d "$work/fio-$upver" ] || die "fio_$upver.orig.tar.gz has no fio-$upver/"
tar -C "$work/fio-$upver" -xf "$work"/fio_"${debver#*:}".debian.tar.*
if [ -f "$work/fio-$upver/debian/patches/series" ]; then
    while read -r p _; do
        case $p in '' | '#'*) continue ;; esac
        patch -d "$work/fio-$upver" -p1 -s <"$work/fio-$upver/debian/patches/$p" ||
            die "Debian patch $p does not apply"
    done <"$work/fio-$upver/debian/patches/series"
fi

# debian/rules: ./configure --disable-native --prefix=/usr --enable-gfio --enable-libnbd
grep -q -- '--disable-native --prefix=/usr' "$work/fio-$upver/debian/rules" ||
    echo "fio-source: warning: debian/rules no longer configures with --disable-native --prefix=/usr" >&2
(cd "$work/fio-$upver" && ./configure --disable-native --prefix=/usr >configure.out 2>&1) ||
    { tail -n 30 "$work/fio-$upver/configure.out" >&2; die "fio's configure failed"; }
for c in CONFIG_LIBAIO CONFIG_POSIXAIO CONFIG_RDMA CONFIG_LIBNUMA; do
    grep -q "^#define $c\$" "$work/fio-$upver/config-host.h" ||
        die "$c not set: install the build dependencies (libaio-dev librdmacm-dev libibverbs-dev libnuma-dev)"
done
make -C "$work/fio-$upver" -s -j2 t/io_uring fio >"$work/make.log" 2>&1 ||
    { tail -n 30 "$work/make.log" >&2; die "building t/io_uring and fio failed"; }

mv "$work/fio-$upver" "$tree"
echo "$debver" >"$stamp"
ln -sfn "fio-$upver" "$cache/tree"
echo "$tree"
