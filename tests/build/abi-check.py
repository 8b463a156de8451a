#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The exported symbols of the built libregbuf.so equal src/libregbuf.map,
and the map lists every public function the library defines.

Reads the map's version nodes (every name under "global:"), the library's
dynamic symbol table (nm -D --defined-only) and the global functions named
regbuf_* / __regbuf_* in the library's objects (nm of libregbuf-internal.a:
the public functions, which the map's "local: *" would silently hide if it
forgot one).  Fails naming each public function missing from the map, each
symbol exported but not listed, each symbol listed but not exported, and
each symbol exported under another version node than the map's.  In a build
without the uring layer the map's regbuf_uring_* and __regbuf_uring_* names
must be absent instead.
Usage: abi-check.py [BUILDDIR]   (default: the build it was configured in)"""
import re
import subprocess
import sys
from pathlib import Path

src = Path('@SRCROOT@')
build = Path(sys.argv[1] if len(sys.argv) > 1 else '@BUILDROOT@')
have_uring = '@HAVE_URING@' == '1'
map_path = src / 'src' / 'libregbuf.map'
passed = failed = 0


def case(name, problems):
    global passed, failed
    if problems:
        failed += 1
        print('FAIL %s: %d problem(s)' % (name, len(problems)))
        for p in problems:
            print('      ' + p)
    else:
        passed += 1
        print('ok %s' % name)


def uring_symbol(sym):
    return sym.lstrip('_').startswith('regbuf_uring_')


# The map: NODE { global: a; b; local: *; } [PARENT];  with C comments.
text = re.sub(r'/\*.*?\*/', '', map_path.read_text(), flags=re.S)
listed = {}         # symbol -> node
problems = []
for node, body in re.findall(r'([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*[\w.]*\s*;', text, re.S):
    section = None
    for tok in re.findall(r'[^\s;]+:|[^\s;:]+(?=\s*;)', body):
        if tok.endswith(':'):
            section = tok[:-1]
        elif section == 'global':
            if '*' in tok or '?' in tok or '[' in tok:
                problems.append('%s: pattern %r: list every symbol by name' % (node, tok))
            elif tok in listed:
                problems.append('%s listed twice (%s and %s)' % (tok, listed[tok], node))
            else:
                listed[tok] = node
if not listed:
    problems.append('no global symbols parsed from %s' % map_path)
case('map_lists_names', problems)

libs = sorted(build.glob('libregbuf.so.*.*'))
if not libs:
    print('FAIL exported_equals_map: no libregbuf.so.*.* in %s' % build)
    print('abi: %d passed, %d failed, 0 skipped' % (passed, failed + 1))
    sys.exit(1)
lib = libs[0]
out = subprocess.run(['nm', '-D', '--defined-only', str(lib)], check=True,
                     capture_output=True, text=True).stdout
exported = {}       # symbol -> node
for line in out.splitlines():
    f = line.split()
    if len(f) < 3 or f[1] == 'A':       # 'A': the version node names themselves
        continue
    name, _, node = f[2].partition('@')
    exported[name] = node.lstrip('@')

# The public functions the library defines: global, named for the API.
archive = build / 'libregbuf-internal.a'
defined = set()
if archive.exists():
    out = subprocess.run(['nm', '--defined-only', str(archive)], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in 'TDRBW' and re.match(r'_*regbuf_', f[2]):
            defined.add(f[2])
problems = []
for s in sorted(defined - set(listed)):
    problems.append('%s: a public function of the library, missing from src/libregbuf.map, so '
                    'the shared library hides it (add "%s;" to the newest node)' % (s, s))
if not archive.exists():
    problems.append('no %s to read the library\'s functions from' % archive)
case('public_functions_in_map', problems)

expected = {s: n for s, n in listed.items() if have_uring or not uring_symbol(s)}
missing = sorted(set(exported) - set(expected))
extra = sorted(set(expected) - set(exported))
problems = []
for s in missing:
    if not have_uring and uring_symbol(s):
        problems.append('%s: exported by a build without the uring layer' % s)
    else:
        problems.append('%s: exported by %s but missing from src/libregbuf.map '
                        '(add "%s;" to the newest node)' % (s, lib.name, s))
for s in extra:
    problems.append('%s: listed in src/libregbuf.map (%s) but not exported by %s '
                    '(removed or renamed? delete it from the map, or define it)'
                    % (s, expected[s], lib.name))
for s in sorted(set(expected) & set(exported)):
    if exported[s] != expected[s]:
        problems.append('%s: exported as version %s, the map says %s'
                        % (s, exported[s] or '(none)', expected[s]))
case('exported_equals_map', problems)
print('# %d symbols exported by %s (uring layer %s)'
      % (len(exported), lib.name, 'built' if have_uring else 'not built'))
print('abi: %d passed, %d failed, 0 skipped' % (passed, failed))
sys.exit(1 if failed else 0)
