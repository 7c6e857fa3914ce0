#!/usr/bin/env bash
# Clang's thread-safety analysis over every source file of ours: each translation unit of the
# build (build/compile_commands.json) under src/ and tests/ is compiled again by clang++ with
# -Wthread-safety -Werror=thread-safety, front end only (-fsyntax-only: the analysis runs there;
# no objects are written). Fails on the first report: a lock annotation (ABSL_GUARDED_BY,
# ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...) that the code does not keep.
#
# Usage: scripts/thread_safety.sh            (after scripts/build.sh; scripts/test.sh runs it)
# Env: BUILD_DIR (default <repo>/build), JOBS (default nproc), CLANGXX (default clang++),
#      ONLY (a regular expression: check only the sources whose path matches it).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-${repo}/build}"
jobs="${JOBS:-$(nproc)}"
clangxx="${CLANGXX:-clang++}"
db="${build_dir}/compile_commands.json"

command -v "${clangxx}" >/dev/null || { echo "thread_safety.sh: ${clangxx} not found" >&2; exit 1; }
[[ -r "${db}" ]] || { echo "thread_safety.sh: no ${db}: build first (scripts/build.sh)" >&2; exit 1; }

# One line per translation unit: the directory, then the clang command (NUL-separated words).
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
python3 - "${db}" "${repo}" "${clangxx}" "${work}" "${ONLY:-}" <<'PY'
import json, os, re, shlex, sys
db, repo, clangxx, work, only = sys.argv[1:]
ours = (os.path.join(repo, "src") + os.sep, os.path.join(repo, "tests") + os.sep)
n = 0
for entry in json.load(open(db)):
    src = os.path.realpath(os.path.join(entry["directory"], entry["file"]))
    if not src.startswith(ours) or (only and not re.search(only, src)):
        continue
    words = entry.get("arguments") or shlex.split(entry["command"])
    out, skip = [clangxx], False
    for w in words[1:]:
        if skip:
            skip = False
            continue
        if w == "-o":
            skip = True
            continue
        if w in ("-c", "-Werror") or w.startswith("-fsanitize"):
            continue
        out.append(w)
    out += ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", "-Wno-unknown-warning-option"]
    with open(os.path.join(work, f"{n:04d}.cmd"), "w") as f:
        f.write(entry["directory"] + "\n" + "\0".join(out))
    n += 1
print(f"thread_safety.sh: {n} translation units", file=sys.stderr)
PY

check_one() {
  local cmd_file="$1" dir
  dir="$(head -n1 "${cmd_file}")"
  mapfile -d '' -t words < <(tail -n +2 "${cmd_file}")
  (cd "${dir}" && "${words[@]}" 2>&1 | grep -E "warning: .*\[-Wthread-safety|error: .*\[-Werror,-Wthread-safety|error:" -A3 && exit 1 || exit 0)
}
export -f check_one
if ! ls "${work}"/*.cmd | xargs -P "${jobs}" -n1 bash -c 'check_one "$0"'; then
  echo "thread_safety.sh: FAILED: clang's thread-safety analysis reported the lines above" >&2
  exit 1
fi
echo "thread_safety.sh: ok: no thread-safety report in our translation units"
