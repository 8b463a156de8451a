#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/fuzz/run-libfuzzer.sh - build the fuzz targets as real libFuzzer
# binaries (clang, -fsanitize=fuzzer,address,undefined, coverage on the
# library too) in a separate build directory and run each for a bounded time.
#
#   tests/fuzz/run-libfuzzer.sh [-t SECONDS] [-d BUILDDIR] [TARGET...]
#
# TARGET is a target name (seg-split, table-coalesce, ...); default: all that
# were built.  Each run starts from the checked-in seed corpus and keeps what
# it finds in BUILDDIR/fuzz-corpus/<target>/ (so later runs continue from
# there); crashes go to BUILDDIR/fuzz-artifacts/ and can be replayed with the
# libFuzzer binary or with build/tests/fuzz/test-fuzz-<target> FILE.
# Targets run one after another (one core): the machine is shared.
# Extra libFuzzer flags: LIBFUZZER_FLAGS="-rss_limit_mb=4096 ...".
# Exit status: 0 when no target found a bug, 1 otherwise.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

secs=60
dir=build-libfuzzer
while getopts "t:d:" opt; do
    case $opt in
    t) secs=$OPTARG ;;
    d) dir=$OPTARG ;;
    *) echo "usage: $0 [-t SECONDS] [-d BUILDDIR] [TARGET...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

if ! command -v clang >/dev/null; then
    echo "run-libfuzzer: clang not found (apt-get install clang)" >&2
    exit 2
fi

if [ ! -f "$dir/build.ninja" ]; then
    CC=clang meson setup "$dir" -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined' \
        >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log" >&2; exit 2; }
fi
if [ $# = 0 ]; then
    # Every libFuzzer target meson configured (a target whose layer has not
    # landed is not configured).
    mapfile -t configured < <(ninja -C "$dir" -t targets all 2>/dev/null |
        sed -n 's|^tests/fuzz/fuzz-\([a-z0-9-]*\): .*|\1|p' | sort -u)
    set -- "${configured[@]}"
fi
if [ $# = 0 ]; then
    echo "run-libfuzzer: no libFuzzer targets configured (is clang's libFuzzer installed?)" >&2
    exit 2
fi
# Only the fuzz binaries: they link the static library (the sanitized shared
# library would need clang's shared sanitizer runtime).
if ! ninja -C "$dir" "${@/#/tests/fuzz/fuzz-}" >"$dir.ninja.log" 2>&1; then
    tail -n 40 "$dir.ninja.log" >&2
    echo "run-libfuzzer: build failed (is clang's libFuzzer installed?)" >&2
    exit 2
fi

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
status=0
mkdir -p "$dir/fuzz-artifacts"
for t in "$@"; do
    bin=$dir/tests/fuzz/fuzz-$t
    [ -x "$bin" ] || { echo "run-libfuzzer: no target $t" >&2; status=1; continue; }
    corpus=$dir/fuzz-corpus/$t
    mkdir -p "$corpus"
    log=$dir/fuzz-$t.log
    echo "== fuzz-$t: ${secs}s"
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=20 \
        -artifact_prefix="$dir/fuzz-artifacts/$t-" ${LIBFUZZER_FLAGS:-} \
        "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
    if [ "$rc" = 0 ]; then
        echo "ok   fuzz-$t: ${execs:-?} executions (${rate:-?}/s), $cov"
    else
        status=1
        echo "FAIL fuzz-$t: exit $rc after ${execs:-?} executions; log $log"
        grep -E 'fuzz-[a-z-]+: |ERROR: |SUMMARY: |runtime error|Test unit written' "$log" |
            head -n 8 | sed 's/^/      /'
    fi
done
exit $status
