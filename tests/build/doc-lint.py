#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the public headers' kernel-doc: every function declared or defined in
include/regbuf/*.h has a `/** name() - summary` comment right above it, every
parameter has an `@name:` line, and every function that returns a value has a
`Return:` section.  Exit status follows the test contract (0 pass, 1 fail)."""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else '@SRCROOT@')
headers = sorted((root / 'include' / 'regbuf').glob('*.h'))

# A function declaration or definition at file scope (kernel style: one per statement).
func_re = re.compile(r'^(?:static\s+inline\s+)?(?:[A-Za-z_][\w\s\*]*?)\b(\w+)\s*\(([^;{]*?)\)\s*'
                     r'(?:__attribute__\s*\(\(.*?\)\)\s*)*[;{]', re.S | re.M)

passed = failed = 0
for h in headers:
    text = h.read_text()
    # Drop preprocessor lines so macros do not look like functions.
    body = re.sub(r'^#.*?(?<!\\)$', '', text, flags=re.M | re.S)
    for m in func_re.finditer(body):
        name, params = m.group(1), m.group(2)
        if name.startswith('__') or name in ('if', 'while', 'for', 'switch', 'return', 'sizeof'):
            continue
        decl_start = m.start()
        before = body[:decl_start].rstrip()
        # Skip lines of the same declaration (return type on its own line, REGBUF_MUST_CHECK).
        problems = []
        start = before.rfind('/**')
        if start < 0 or not before.endswith('*/') or '*/' in before[start:-2]:
            problems.append('no kernel-doc comment')
        else:
            doc = before[start + 3:-2]
            if not re.search(r'^\s*\*?\s*' + re.escape(name) + r'\(\)\s+-\s+\S', doc, re.M):
                problems.append("doc does not start with '%s() - summary'" % name)
            for p in params.split(','):
                p = p.strip()
                if not p or p == 'void' or p == '...':
                    continue
                pname = re.sub(r'\[.*\]$', '', p).split()[-1].lstrip('*')
                if '(' in p:  # function pointer parameter
                    pname = re.search(r'\(\s*\*\s*(\w+)\)', p).group(1)
                if not re.search(r'@' + re.escape(pname) + r':', doc):
                    problems.append('no @%s: line' % pname)
            ret = body[body.rfind('\n', 0, decl_start) + 1:m.start(1)]
            returns_value = not re.search(r'\bvoid\s*$', ret.strip()) or '*' in ret
            if returns_value and 'Return:' not in doc:
                problems.append('returns a value but has no Return: section')
        rel = h.relative_to(root)
        if problems:
            failed += 1
            print('FAIL %s: %s: %s' % (rel, name, '; '.join(problems)))
        else:
            passed += 1
print('doc-lint: %d passed, %d failed, 0 skipped' % (passed, failed))
sys.exit(1 if failed else 0)
