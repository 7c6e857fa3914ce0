#!/usr/bin/env bash
# The README's test command: installs dependencies, builds, starts the private PostgreSQL (unless
# a database URL is given) and runs every test with ctest.
#
# Usage: scripts/test.sh [--database-url URL] [ctest args...]     e.g. scripts/test.sh -L unit
# Env: TOKENLEDGER_DATABASE_URL (instead of --database-url), BUILD_DIR, TOKENLEDGER_PG_PORT.
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

bash "${repo}/scripts/deps.sh"
BUILD_DIR="${build_dir}" bash "${repo}/scripts/build.sh"

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
ctest --test-dir "${build_dir}" --output-on-failure -j2 --timeout 600 \
  "${ctest_args[@]+"${ctest_args[@]}"}" || rc=$?
exit "${rc}"
