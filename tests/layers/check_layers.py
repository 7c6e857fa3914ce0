#!/usr/bin/env python3
# Copyright 2026 The tokenledger Authors. Apache-2.0.
"""Checks every #include line of the tree against the layer arrows of docs/internals.md.

Each source file belongs to a layer (by its folder); each include names a layer of ours (by its
first path component) or an external library. A file may include only what its layer's row in
ALLOWED lists. An include this script cannot place fails too, so that a new folder or library is
added here on purpose, with its arrows.

Usage: check_layers.py ROOT        check the tree at ROOT; exit 1 and print each violation
       check_layers.py --self-test check that a few known-bad trees are refused
"""
import os
import re
import sys
import tempfile

# Source folders -> layer. The longest matching prefix wins.
FOLDERS = {
    "include/tokenledger": "types",
    "src/types": "types",
    "src/util": "util",
    "src/ledger": "ledger",
    "src/store": "store",
    "src/postgres": "postgres",
    "src/obs": "obs",
    "src/api": "api",
    "src/server": "server",
    "src/cli": "cli",
    "src/bench": "bench",
    "tests/testing": "testing",
    "tests": "tests",
}

# The first component of a quoted include -> layer (ours) or library (theirs).
OURS = {
    "types": "types", "ledger": "ledger", "store": "store", "postgres": "postgres",
    "obs": "obs", "api": "api", "server": "server", "cli": "cli", "bench": "bench",
    "testing": "testing", "util": "util",
}
LIBRARIES = {
    "absl": "absl", "grpcpp": "grpc", "grpc": "grpc", "google": "protobuf", "spdlog": "spdlog",
    "pqxx": "pqxx", "httplib.h": "httplib", "toml++": "toml", "openssl": "openssl",
    "gtest": "gtest", "gmock": "gtest",
}

BASE = {"absl"}  # every layer may use abseil and the standard library
ALLOWED = {
    "util": {"util"},
    "types": {"types"},
    "ledger": {"types", "ledger"},
    "store": {"types", "store"},
    "postgres": {"types", "store", "postgres", "pqxx"},
    "obs": {"obs", "spdlog"},
    "api": {"types", "util", "ledger", "obs", "api", "proto", "grpc", "protobuf", "spdlog", "openssl"},
    "server": {"types", "util", "ledger", "store", "postgres", "obs", "api", "server", "proto", "grpc",
               "protobuf", "spdlog", "httplib", "toml", "openssl"},
    "cli": {"cli", "util", "proto", "grpc", "protobuf"},
    "bench": {"types", "util", "bench", "proto", "bench_proto", "grpc", "protobuf", "pqxx"},
    "testing": {"types", "store", "testing", "gtest"},
    "tests": None,  # tests may include anything
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE_SUFFIXES = (".h", ".cc", ".cpp", ".hpp")


def layer_of_file(rel):
    best = None
    for prefix, layer in FOLDERS.items():
        if rel == prefix or rel.startswith(prefix + "/"):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, layer)
    return best[1] if best else None


def target_of_include(kind, path):
    """The layer or library an include names; "" for the standard/system library; None unknown."""
    if path.startswith("tokenledger/v1/"):
        return "proto"
    if path.startswith("tokenledger/"):
        return "types"
    if path.startswith("bench_floor."):
        return "bench_proto"
    head = path.split("/", 1)[0]
    if head in LIBRARIES:
        return LIBRARIES[head]
    if kind == '"':
        return OURS.get(head) if "/" in path else None
    return ""  # <vector>, <unistd.h>, <sys/...>: the platform


def check_tree(root):
    problems = []
    for top in ("include", "src", "tests"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                layer = layer_of_file(rel)
                if layer is None:
                    problems.append(f"{rel}: in no layer (add its folder to FOLDERS)")
                    continue
                problems.extend(check_file(full, rel, layer))
    return problems


def check_file(full, rel, layer):
    problems = []
    allowed = ALLOWED[layer]
    with open(full, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, path = m.groups()
            target = target_of_include(kind, path)
            if allowed is None:
                continue  # tests may include anything, their own helpers by bare name too
            if target is None:
                problems.append(f"{rel}:{number}: #include {kind}{path}: names no known layer")
            elif target and target not in allowed | BASE:
                problems.append(f"{rel}:{number}: layer '{layer}' may not include '{path}' "
                                f"(layer/library '{target}'): allowed {sorted(allowed)}")
    return problems


def self_test():
    bad_trees = {
        "the engine reaching into the store": ("src/ledger/x.cc", '#include "store/group_commit.h"'),
        "the engine using gRPC": ("src/ledger/x.cc", "#include <grpcpp/grpcpp.h>"),
        "the store using the engine": ("src/store/x.cc", '#include "ledger/engine.h"'),
        "libpqxx outside the PostgreSQL store": ("src/store/x.cc", "#include <pqxx/pqxx>"),
        "a fake in production": ("src/server/x.cc", '#include "testing/memory_store.h"'),
        "an unknown folder": ("src/api/x.cc", '#include "cache/tenant_cache.h"'),
        "a file in no layer": ("src/newthing/x.cc", "#include <vector>"),
    }
    failures = 0
    for what, (rel, line) in bad_trees.items():
        with tempfile.TemporaryDirectory() as root:
            os.makedirs(os.path.join(root, os.path.dirname(rel)))
            with open(os.path.join(root, rel), "w") as f:
                f.write(line + "\n")
            if not check_tree(root):
                print(f"self-test: not refused: {what}")
                failures += 1
    with tempfile.TemporaryDirectory() as root:
        rel = "src/ledger/ok.cc"
        os.makedirs(os.path.join(root, "src/ledger"))
        with open(os.path.join(root, rel), "w") as f:
            f.write('#include "ledger/engine.h"\n#include "tokenledger/types.h"\n#include <vector>\n')
        if check_tree(root):
            print("self-test: a good tree was refused")
            failures += 1
    print("self-test:", "FAILED" if failures else f"ok ({len(bad_trees) + 1} trees)")
    return 1 if failures else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 2
    problems = check_tree(argv[1])
    for p in problems:
        print(p)
    print(f"check_layers: {len(problems)} violation(s)" if problems else "check_layers: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
