#!/usr/bin/env bash
# Builds the libFuzzer target tokenledger_fuzz_api with clang (plus ASan and UBSan) in build-fuzz/
# and runs it for a bounded time on the seed corpus (tests/fuzz/corpus/, read only) and on what
# earlier runs found (build-fuzz/corpus/). Fails on a crash, a sanitizer report, a timeout or a
# violated invariant (see tests/fuzz/api_fuzz.cc); the input is kept as build-fuzz/artifacts/crash-*
# and replayed with: build-fuzz/tests/fuzz/tokenledger_fuzz_api build-fuzz/artifacts/crash-...
#
# Usage: scripts/fuzz.sh [libFuzzer flags...]          e.g. scripts/fuzz.sh -jobs=2
#        scripts/fuzz.sh --seeds                        rewrites tests/fuzz/corpus/ from its generator
# Env: FUZZ_SECONDS (default 60), JOBS (build jobs, default 2), FUZZ_CXX (default clang++).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tree="${repo}/build-fuzz"
seconds="${FUZZ_SECONDS:-60}"

say() { echo "fuzz.sh: $*" >&2; }

BUILD_DIR="${tree}" BUILD_TYPE=RelWithDebInfo JOBS="${JOBS:-2}" \
  CMAKE_ARGS="-DCMAKE_CXX_COMPILER=${FUZZ_CXX:-clang++} -DTOKENLEDGER_FUZZ=ON -DTOKENLEDGER_BUILD_TESTS=OFF -DTOKENLEDGER_SANITIZE=address,undefined -DTOKENLEDGER_WERROR=ON" \
  bash "${repo}/scripts/build.sh" tokenledger_fuzz_api tokenledger_fuzz_corpus

if [[ "${1:-}" == "--seeds" ]]; then
  rm -f "${repo}"/tests/fuzz/corpus/seed-*
  "${tree}/tests/fuzz/tokenledger_fuzz_corpus" "${repo}/tests/fuzz/corpus"
  say "wrote $(ls "${repo}/tests/fuzz/corpus" | wc -l) seeds to tests/fuzz/corpus/"
  exit 0
fi

mkdir -p "${tree}/corpus" "${tree}/artifacts"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
start_s="${SECONDS}"
rc=0
"${tree}/tests/fuzz/tokenledger_fuzz_api" -max_total_time="${seconds}" -timeout=60 \
  -rss_limit_mb=4096 -max_len=16384 -print_final_stats=1 -detect_leaks=0 \
  -dict="${repo}/tests/fuzz/api.dict" -artifact_prefix="${tree}/artifacts/" "$@" \
  "${tree}/corpus" "${repo}/tests/fuzz/corpus" || rc=$?
if [[ "${rc}" -ne 0 ]]; then
  say "FAILED (exit ${rc}) after $((SECONDS - start_s)) s; inputs in ${tree}/artifacts/"
  exit 1
fi
say "passed: ${seconds} s of fuzzing, no crash"
