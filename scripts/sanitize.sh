#!/usr/bin/env bash
# The sanitizer suites, each in a build tree of its own, built with clang (-O1 -g, assertions on):
#   asan  build-asan/  TOKENLEDGER_SANITIZE=address,undefined: the unit, integration and e2e tests
#                      (e2e runs an instrumented tokenledgerd and CLI; SANITIZE_E2E=0 skips it)
#   tsan  build-tsan/  TOKENLEDGER_SANITIZE=thread: the unit tests (engine, group-commit writer,
#                      tenant cache, periods: the concurrency that does not go through gRPC)
# Each tree builds only the targets it runs. Any sanitizer report fails the suite, also one from a
# child process (the daemon, the CLI): reports are written to <tree>/sanitizer-logs/ and printed.
#
# Usage: scripts/sanitize.sh [asan] [tsan]        (default: both)
# Env: JOBS (default 2), SANITIZE_CXX (default clang++), SANITIZE_E2E (default 1),
#      TOKENLEDGER_TEST_DATABASE_URL (else the private PostgreSQL is started, as scripts/test.sh
#      does), TOKENLEDGER_PG_PORT.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
jobs="${JOBS:-2}"
cxx="${SANITIZE_CXX:-clang++}"

say() { echo "sanitize.sh: $*" >&2; }

suites=("$@")
[[ ${#suites[@]} -gt 0 ]] || suites=(asan tsan)
for suite in "${suites[@]}"; do
  case "${suite}" in
    asan | tsan) ;;
    *) say "unknown suite '${suite}' (want asan or tsan)"; exit 2 ;;
  esac
done

# build TREE SANITIZERS TARGET...: configures (first time) and builds only TARGET...
build() {
  local tree="$1" sanitizers="$2"
  shift 2
  BUILD_DIR="${tree}" BUILD_TYPE=Debug JOBS="${jobs}" \
    CMAKE_ARGS="-DCMAKE_CXX_COMPILER=${cxx} -DCMAKE_CXX_FLAGS=-O1 -DTOKENLEDGER_SANITIZE=${sanitizers} -DTOKENLEDGER_WERROR=ON" \
    bash "${repo}/scripts/build.sh" "$@"
}

# run_ctest TREE LABEL...: runs the tests of each label; fails on a failed test or on any report.
run_ctest() {
  local tree="$1" rc=0 label
  shift
  local logs="${tree}/sanitizer-logs"
  rm -rf "${logs}"
  mkdir -p "${logs}"
  export ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=${logs}/report"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=${logs}/report"
  export LSAN_OPTIONS="suppressions=${repo}/tests/lsan.supp:print_suppressions=0"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=${repo}/tests/tsan.supp:log_path=${logs}/report"
  for label in "$@"; do
    ctest --test-dir "${tree}" --output-on-failure -j2 --timeout 900 -L "^${label}\$" || rc=1
  done
  if [[ -n "$(ls -A "${logs}")" ]]; then
    say "sanitizer reports in ${logs}:"
    for f in "${logs}"/*; do
      echo "==== ${f}" >&2
      cat "${f}" >&2
    done
    rc=1
  fi
  return "${rc}"
}

ensure_database() {
  [[ -z "${TOKENLEDGER_TEST_DATABASE_URL:-}" ]] || return 0
  bash "${repo}/scripts/pg.sh" start
  bash "${repo}/scripts/pg.sh" createdb tokenledger_test
  TOKENLEDGER_TEST_DATABASE_URL="$(bash "${repo}/scripts/pg.sh" url tokenledger_test)"
  export TOKENLEDGER_TEST_DATABASE_URL
}

rc=0
for suite in "${suites[@]}"; do
  start_s="${SECONDS}"
  if [[ "${suite}" == "asan" ]]; then
    tree="${repo}/build-asan"
    labels=(unit integration)
    targets=(tokenledger_unit_tests tokenledger_integration_tests)
    if [[ "${SANITIZE_E2E:-1}" == "1" ]]; then
      labels+=(e2e)
      targets+=(tokenledger_e2e_tests)
    fi
    build "${tree}" "address,undefined" "${targets[@]}"
    ensure_database
  else
    tree="${repo}/build-tsan"
    labels=(unit)
    build "${tree}" "thread" tokenledger_unit_tests
  fi
  say "${suite}: built in $((SECONDS - start_s)) s"
  suite_rc=0
  run_ctest "${tree}" "${labels[@]}" || suite_rc=$?
  say "${suite}: $([[ ${suite_rc} -eq 0 ]] && echo passed || echo FAILED) in $((SECONDS - start_s)) s"
  [[ "${suite_rc}" -eq 0 ]] || rc=1
done
exit "${rc}"
