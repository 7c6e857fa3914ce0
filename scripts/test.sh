#!/usr/bin/env bash
# The README's test command (and CI's, .ci/run): installs dependencies, builds (warnings are
# errors), starts the private PostgreSQL (unless a database URL is given) and runs every test with
# ctest; then clang's thread-safety analysis over our sources (scripts/thread_safety.sh) and the
# hostile suites, each in a build tree of its own: ASan+UBSan (unit, integration, e2e) and TSan
# (unit) through scripts/sanitize.sh, and the API fuzzer for FUZZ_SECONDS through scripts/fuzz.sh.
#
# Usage: scripts/test.sh [--database-url URL] [ctest args...]     e.g. scripts/test.sh -L unit
# Env: TOKENLEDGER_DATABASE_URL (instead of --database-url), BUILD_DIR, TOKENLEDGER_PG_PORT,
#      TOKENLEDGER_SKIP_SANITIZERS=1 (only ctest: no thread-safety analysis, sanitizers or
#      fuzzer; also when ctest args select tests),
#      FUZZ_SECONDS (default 60).
# The tests get TOKENLEDGER_TEST_DATABASE_URL: the same server, database "tokenledger_test".
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-${repo}/build}"
test_db="tokenledger_test"

database_url="${TOKENLEDGER_DATABASE_URL:-}"
ctest_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --database-url)
      [[ $# -ge 2 ]] || { echo "test.sh: --database-url needs a value" >&2; exit 2; }
      database_url="$2"
      shift 2
      ;;
    --database-url=*)
      database_url="${1#*=}"
      shift
      ;;
    *)
      ctest_args+=("$1")
      shift
      ;;
  esac
done

build_start_s="${SECONDS}"
bash "${repo}/scripts/deps.sh"
# Developer and CI builds: warnings are errors (a user's build, scripts/run.sh, keeps them warnings).
BUILD_DIR="${build_dir}" CMAKE_ARGS="-DTOKENLEDGER_WERROR=ON ${CMAKE_ARGS:-}" \
  bash "${repo}/scripts/build.sh"
build_s=$((SECONDS - build_start_s))

psql_bin="/usr/lib/postgresql/15/bin/psql"
[[ -x "${psql_bin}" ]] || psql_bin="psql"

if [[ -z "${database_url}" ]]; then
  bash "${repo}/scripts/pg.sh" start
  bash "${repo}/scripts/pg.sh" createdb "${test_db}"
  test_url="$(bash "${repo}/scripts/pg.sh" url "${test_db}")"
else
  # Same server and credentials, database tokenledger_test: replace the path of the URL.
  if [[ ! "${database_url}" =~ ^(postgres(ql)?://[^/?]*)(/[^?]*)?(\?.*)?$ ]]; then
    echo "test.sh: cannot parse database URL '${database_url}' (want postgresql://...)" >&2
    exit 2
  fi
  test_url="${BASH_REMATCH[1]}/${test_db}${BASH_REMATCH[4]}"
  exists="$("${psql_bin}" -X -tA "${database_url}" \
    -c "SELECT 1 FROM pg_database WHERE datname = '${test_db}'")"
  if [[ -z "${exists}" ]]; then
    "${psql_bin}" -X -q "${database_url}" -c "CREATE DATABASE ${test_db}"
    echo "test.sh: created database ${test_db}"
  fi
fi
export TOKENLEDGER_TEST_DATABASE_URL="${test_url}"
echo "test.sh: TOKENLEDGER_TEST_DATABASE_URL=${TOKENLEDGER_TEST_DATABASE_URL}"

rc=0
summary=("$(printf '%-12s %-6s %4d s' build ok "${build_s}")")
# suite NAME CMD...: runs one stage, records its outcome and time; a failure fails the run at
# the end, after the other stages had their say.
suite() {
  local name="$1" start_s="${SECONDS}" suite_rc=0
  shift
  echo "test.sh: ---- ${name} ----"
  "$@" || suite_rc=$?
  summary+=("$(printf '%-12s %-6s %4d s' "${name}" "$([[ ${suite_rc} -eq 0 ]] && echo ok || echo FAILED)" $((SECONDS - start_s)))")
  [[ "${suite_rc}" -eq 0 ]] || rc=1
}

suite ctest ctest --test-dir "${build_dir}" --output-on-failure -j2 --timeout 600 \
  "${ctest_args[@]+"${ctest_args[@]}"}"
if [[ "${TOKENLEDGER_SKIP_SANITIZERS:-0}" == "1" ]]; then
  echo "test.sh: TOKENLEDGER_SKIP_SANITIZERS=1: sanitizer suites and fuzzer skipped"
elif [[ ${#ctest_args[@]} -gt 0 ]]; then
  echo "test.sh: ctest arguments given: sanitizer suites and fuzzer skipped (they run without)"
else
  suite thread-safety env BUILD_DIR="${build_dir}" bash "${repo}/scripts/thread_safety.sh"
  suite asan+ubsan bash "${repo}/scripts/sanitize.sh" asan
  suite tsan bash "${repo}/scripts/sanitize.sh" tsan
  suite fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-60}" bash "${repo}/scripts/fuzz.sh"
fi
echo "test.sh: summary"
printf '  %s\n' "${summary[@]}"
exit "${rc}"
