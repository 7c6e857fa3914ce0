#!/usr/bin/env python3
# Copyright 2026 The tokenledger Authors. Apache-2.0.
"""Checks that every test the pages cite exists: `Suite.Name`, `Suite.*` and a bare `SuiteTest`
in README.md and docs/*.md must name a GoogleTest suite (and test) defined under tests/.

Usage: check_cited_tests.py REPO
"""
import os
import re
import sys

DEFINITION = re.compile(
    r'\b(?:TEST|TEST_F|TEST_P|TYPED_TEST|TYPED_TEST_P)\(\s*(\w+)\s*,\s*(\w+)\s*\)')
CITED = re.compile(r'`([A-Z]\w*(?:Test|Tests|EndToEnd))(?:\.(\w+|\*))?`')


def defined_tests(repo):
    tests = set()
    for dirpath, _, files in os.walk(os.path.join(repo, 'tests')):
        for name in files:
            if name.endswith(('.cc', '.h')):
                text = open(os.path.join(dirpath, name), encoding='utf-8', errors='replace').read()
                tests.update(DEFINITION.findall(text))
    return tests


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    repo = argv[1]
    tests = defined_tests(repo)
    suites = {suite for suite, _ in tests}
    pages = [os.path.join(repo, 'README.md')]
    docs = os.path.join(repo, 'docs')
    pages += sorted(os.path.join(docs, p) for p in os.listdir(docs) if p.endswith('.md'))
    bad = cited = 0
    for page in pages:
        for suite, name in CITED.findall(open(page, encoding='utf-8').read()):
            cited += 1
            if suite not in suites:
                print(f'{os.path.relpath(page, repo)}: `{suite}`: no such test suite under tests/')
                bad += 1
            elif name and name != '*' and (suite, name) not in tests:
                print(f'{os.path.relpath(page, repo)}: `{suite}.{name}`: no such test')
                bad += 1
    print(f'{cited} cited tests checked, {bad} unknown')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
