#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Source checks that need no build:

- product_text: what users and reviewers read (public headers, sources, the
  CLI, the lab, the fio engine, the tests, examples, scripts, docs, README,
  meson files) names upstream work, kernel functions
  and spec sections, never notes a reader cannot open (a Markdown file the
  tree does not have, a path outside it, a numbered patch series).  A section sign must
  cite a named document on its own line ("NVMe 1.4 §4.6"): a declaration
  in the file header is not enough, a reader lands on the line alone.
- uring_contained: only the uring layer includes <liburing.h>; no other layer
  and no other public header reaches for io_uring, so that a build without
  liburing has every other layer.
- layer_private: a file of src/<a>/ includes its own folder's private
  headers, src/sys/ and public headers, never another layer's private header
  (src/<b>/*.h): layers talk through include/regbuf/, and what two layers
  share without being API lives in src/sys/.
- shellcheck: every shell script in the tree passes shellcheck.

Each hit is printed as file:line.  Usage: lint.py [SRCROOT]"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else '@SRCROOT@')
passed = failed = skipped = 0


def case(name, hits, skip=None):
    global passed, failed, skipped
    if skip:
        skipped += 1
        print('SKIP %s: %s' % (name, skip))
    elif hits:
        failed += 1
        print('FAIL %s: %d hit(s)' % (name, len(hits)))
        for h in hits:
            print('      ' + h)
    else:
        passed += 1
        print('ok %s' % name)


def tree_files():
    """The repository's files: git's list when there is one (tracked and new,
    not ignored), else every file outside build directories."""
    try:
        out = subprocess.run(['git', '-C', str(root), 'ls-files', '-co', '--exclude-standard'],
                             check=True, capture_output=True, text=True).stdout
        files = [root / f for f in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout: skip .git and build directories (they hold meson-private).
        files = []
        for p in root.rglob('*'):
            parts = p.relative_to(root).parts
            if parts and (parts[0] == '.git' or (root / parts[0] / 'meson-private').is_dir()):
                continue
            files.append(p)
    return sorted(f for f in set(files) if f.is_file())


files = tree_files()


def rel(p):
    return str(p.relative_to(root))


def text_of(p):
    try:
        return p.read_text()
    except (UnicodeDecodeError, OSError):
        return None


# ---- product_text ----
product_dirs = ('include/', 'src/', 'tools/', 'bench/', 'fio/', 'tests/', 'examples/', 'scripts/',
                'docs/')
# This file names the patterns it looks for.
product = [f for f in files
           if (rel(f).startswith(product_dirs) or rel(f) in ('README.md', 'meson.build',
                                                            'meson_options.txt'))
           and rel(f) != 'tests/build/lint.py']
# Documents a reader of the tree can open: its own Markdown files.
tree_docs = {f.name for f in files if f.suffix == '.md'}
md_ref = re.compile(r'\b([A-Za-z0-9_.-]+\.md)\b')
team_refs = [
    (re.compile(r'\bseeds? ?[0-9]{1,3}\b', re.I),
     'a numbered patch series (name the upstream series instead)'),
    (re.compile(r'§\s*[0-9.]+\s+item', re.I), 'an item of a numbered note the tree does not have'),
    (re.compile(re.escape(str(root.resolve().parent)) + '/'), 'a path outside the tree'),
]
rel_path = re.compile(r'(?:^|[\s(`"\'])((?:\.\./)+[^\s`"\')]*)')


def outside(f, line):
    """A relative path on the line that leads out of the tree from @f's folder."""
    top = root.resolve()
    for m in rel_path.finditer(line):
        target = (f.parent / m.group(1)).resolve()
        if target != top and top not in target.parents:
            return m.group(1)
    return None


def missing_doc(line):
    """A Markdown file the line names that the tree does not have."""
    return next((m.group(1) for m in md_ref.finditer(line) if m.group(1) not in tree_docs), None)


hits = []
for f in product:
    text = text_of(f)
    if text is None:
        continue
    for n, line in enumerate(text.splitlines(), 1):
        for rx, what in team_refs:
            if rx.search(line):
                hits.append('%s:%d: %s: %s' % (rel(f), n, what, line.strip()[:100]))
        out = outside(f, line)
        if out:
            hits.append('%s:%d: a path outside the tree (%s): %s'
                        % (rel(f), n, out, line.strip()[:100]))
        doc = missing_doc(line)
        if doc:
            hits.append('%s:%d: cites %s, which is not in the tree: %s'
                        % (rel(f), n, doc, line.strip()[:100]))
        if '§' in line and 'NVMe' not in line and not missing_doc(line) \
                and not any(rx.search(line) for rx, _ in team_refs):
            hits.append('%s:%d: a section sign that names no document on its line (write '
                        '"NVMe 1.4 §x"): %s' % (rel(f), n, line.strip()[:100]))
case('product_text', hits)

# ---- uring_contained ----
uring_inc = re.compile(r'^\s*#\s*include\s*[<"](liburing\.h|liburing/|regbuf/uring\.h|'
                       r'uring/)')
hits = []
for f in files:
    r = rel(f)
    if not r.endswith(('.c', '.h')):
        continue
    if r.startswith('src/') and not r.startswith('src/uring/'):
        allowed = False
    elif r.startswith('include/regbuf/') and r not in ('include/regbuf/uring.h',
                                                       'include/regbuf/regbuf.h'):
        allowed = False
    else:
        continue
    text = text_of(f) or ''
    for n, line in enumerate(text.splitlines(), 1):
        if uring_inc.search(line):
            hits.append('%s:%d: only src/uring may include io_uring headers: %s'
                        % (r, n, line.strip()))
case('uring_contained', hits)

# ---- layer_private ----
quoted_inc = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
src_layers = {p.parts[1] for p in (f.relative_to(root) for f in files)
              if len(p.parts) > 2 and p.parts[0] == 'src'}
hits = []
for f in files:
    r = rel(f)
    parts = Path(r).parts
    if len(parts) < 3 or parts[0] != 'src' or not r.endswith(('.c', '.h')):
        continue
    own = parts[1]
    text = text_of(f) or ''
    for n, line in enumerate(text.splitlines(), 1):
        m = quoted_inc.search(line)
        if not m:
            continue
        inc = Path(m.group(1)).parts
        inc = inc[1:] if inc and inc[0] == '..' else inc
        if len(inc) > 1 and inc[0] in src_layers and inc[0] not in (own, 'sys'):
            hits.append('%s:%d: includes the %s layer\'s private header: %s'
                        % (r, n, inc[0], line.strip()))
case('layer_private', hits)

# ---- shellcheck ----
scripts = []
for f in files:
    text = text_of(f)
    if text is None:
        continue
    first = text.split('\n', 1)[0]
    if rel(f).endswith('.sh') or re.match(r'#!.*\b(ba|da)?sh\b', first):
        scripts.append(f)
sc = shutil.which('shellcheck')
if not sc:
    case('shellcheck', [], skip='shellcheck not installed (apt-get install shellcheck)')
else:
    p = subprocess.run([sc, '-x', '-f', 'gcc'] + [rel(s) for s in scripts], cwd=root,
                       capture_output=True, text=True)
    hits = p.stdout.splitlines() + ([p.stderr.strip()] if p.returncode not in (0, 1) else [])
    if p.returncode != 0 and not hits:
        hits = ['shellcheck exited %d' % p.returncode]
    print('# shellcheck: %d scripts: %s' % (len(scripts), ' '.join(rel(s) for s in scripts)))
    case('shellcheck', hits)

print('lint: %d passed, %d failed, %d skipped' % (passed, failed, skipped))
sys.exit(1 if failed else 0)
