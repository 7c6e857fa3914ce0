#!/usr/bin/env python3
# Copyright 2026 The tokenledger Authors. Apache-2.0.
"""Checks every relative link of the repository's pages (or of the Markdown files given) `](path)` / `](path#anchor)` in the given Markdown files: the file
or directory exists, and an anchor names a heading of the target (GitHub's slug rules)."""
import os, re, sys

def slug(h):
    h = re.sub(r'[`*_]', '', h.strip()).lower()
    h = re.sub(r'[^\w\- ]', '', h, flags=re.UNICODE)
    return h.replace(' ', '-')

def anchors(path):
    out, seen, fence = set(), {}, False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            fence = not fence
        if fence:
            continue
        m = re.match(r'^(#{1,6})\s+(.*?)\s*#*\s*$', line)
        if m:
            s = slug(m.group(2))
            n = seen.get(s, 0)
            out.add(s if n == 0 else f'{s}-{n}')
            seen[s] = n + 1
    return out

if len(sys.argv) == 2 and os.path.isdir(sys.argv[1]):
    root = sys.argv[1]  # the repository: its top-level pages, docs/ and deploy/
    pages = [os.path.join(root, p) for p in ('README.md', 'CHANGELOG.md', 'deploy/README.md')]
    docs = os.path.join(root, 'docs')
    pages += sorted(os.path.join(docs, p) for p in os.listdir(docs) if p.endswith('.md'))
else:
    pages = sys.argv[1:]
bad = total = 0
for md in pages:
    text = open(md, encoding='utf-8').read()
    text = re.sub(r'```.*?```', '', text, flags=re.S)  # links inside code blocks are not links
    for target in re.findall(r'\]\(([^)\s]+)\)', text):
        if re.match(r'^[a-z]+:', target):
            continue  # http:, https:, mailto:
        total += 1
        path, _, frag = target.partition('#')
        full = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
        if not os.path.exists(full):
            print(f'{md}: {target}: no such file'); bad += 1; continue
        if frag and (not full.endswith('.md') or frag not in anchors(full)):
            print(f'{md}: {target}: no such anchor'); bad += 1
print(f'{total} relative links checked, {bad} broken')
sys.exit(1 if bad else 0)
