#!/usr/bin/env python3
# Copyright 2026 The tokenledger Authors. Apache-2.0.
"""Small rooms: no file in src/ (or tests/testing/) over FILE_LINES_MAX lines, no function over
FUNCTION_LINES_MAX lines (a lambda counts toward the function around it).

Functions are found by matching braces after comments and string literals are blanked: a block
whose header holds a ')' and is no control statement, lambda or initializer is a function, and
only the outermost one is measured. Good enough for this tree's Google style.

Usage: check_sizes.py REPO          exit 1 and name each file or function over its limit
       check_sizes.py --self-test   check that an over-long function and file are caught
"""
import os
import re
import sys
import tempfile

FILE_LINES_MAX = 800
FUNCTION_LINES_MAX = 80
FOLDERS = ("src", "tests/testing")
CONTROL = re.compile(
    r"^\s*(\}?\s*else|if|for|while|switch|do|try|catch|case|return|namespace|struct|class|enum|"
    r"union)\b")
LAMBDA = re.compile(r"\]\s*(\(.*\))?\s*(mutable\s*)?(->.*)?$")


def blank(text):
    """The text with comments and string and character literals emptied (line count kept)."""
    keep_lines = lambda m: "\n" * m.group(0).count("\n")
    text = re.sub(r"/\*.*?\*/", keep_lines, text, flags=re.S)
    text = re.sub(r'R"(\w*)\((.*?)\)\1"', lambda m: '""' + keep_lines(m), text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)
    return re.sub(r"'(\\.|[^'\\\n])*'", "''", text)


def long_functions(path):
    lines = blank(open(path, encoding="utf-8", errors="replace").read()).split("\n")
    found, stack = [], []
    for i, line in enumerate(lines):
        for column, ch in enumerate(line):
            if ch == "{":
                header, j = line[:column], i
                while j > 0 and not re.search(r"[;{}]\s*$", lines[j - 1]) and i - j < 6:
                    j -= 1
                    header = lines[j] + " " + header
                header = header.strip()
                is_function = (")" in header and not CONTROL.match(header) and
                               not LAMBDA.search(header) and "=" not in header.split("(")[0])
                stack.append((j, is_function, header))
            elif ch == "}" and stack:
                start, is_function, header = stack.pop()
                outermost = not any(f for _, f, _ in stack)
                if is_function and outermost and i - start + 1 > FUNCTION_LINES_MAX:
                    found.append((start + 1, i - start + 1, header[:70]))
    return found


def check_tree(repo):
    problems = []
    for folder in FOLDERS:
        for dirpath, _, files in os.walk(os.path.join(repo, folder)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, repo)
                count = sum(1 for _ in open(path, encoding="utf-8", errors="replace"))
                if count > FILE_LINES_MAX:
                    problems.append(f"{rel}: {count} lines (at most {FILE_LINES_MAX})")
                for line, length, header in long_functions(path):
                    problems.append(f"{rel}:{line}: a function of {length} lines "
                                    f"(at most {FUNCTION_LINES_MAX}): {header}")
    return problems


def self_test():
    body = "".join(f"  x += {i};\n" for i in range(FUNCTION_LINES_MAX))
    with tempfile.TemporaryDirectory() as repo:
        os.makedirs(os.path.join(repo, "src/a"))
        with open(os.path.join(repo, "src/a/long.cc"), "w") as f:
            f.write("int Long(int x) {\n" + body + "  auto f = [&](int y) {\n    return y;\n  };\n"
                    "  return x;\n}\n")
        with open(os.path.join(repo, "src/a/ok.cc"), "w") as f:
            f.write("int Ok(int x) {\n  if (x) {\n    return 1;\n  }\n  return 0;\n}\n")
        with open(os.path.join(repo, "src/a/big.h"), "w") as f:
            f.write("// a line\n" * (FILE_LINES_MAX + 1))
        problems = check_tree(repo)
    want = ["src/a/big.h: ", "src/a/long.cc:1: "]
    ok = len(problems) == 2 and all(any(p.startswith(w) for p in problems) for w in want)
    print("self-test:", "ok" if ok else f"FAILED: {problems}")
    return 0 if ok else 1


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 2
    problems = check_tree(argv[1])
    for p in problems:
        print(p)
    print(f"check_sizes: {len(problems)} over the limits" if problems else "check_sizes: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
