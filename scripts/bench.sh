#!/usr/bin/env bash
# The benchmark: builds tokenledgerd and tokenledger-bench, starts the private PostgreSQL (unless
# a database URL is given), starts a tokenledgerd of its own with a fresh operator key on a free
# port, runs tokenledger-bench against it with the arguments given, and stops that daemon at the
# end (also on failure or Ctrl-C).
#
# Usage: scripts/bench.sh [tokenledger-bench args...]
#   e.g. scripts/bench.sh --duration 2 --big_accounts 100000 --json /tmp/bench.json
#        scripts/bench.sh --phases floor,authorize --concurrency 1,8
# Env: TOKENLEDGER_DATABASE_URL (else scripts/pg.sh start and a fresh database
#      "tokenledger_bench", dropped and recreated on each run), BUILD_DIR (default <repo>/build),
#      TOKENLEDGER_PG_PORT.
# The daemon's log: ${BUILD_DIR}/bench-tokenledgerd.log. Figures and targets: the bench's output.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-${repo}/build}"
daemon="${build_dir}/tokenledgerd"
cli="${build_dir}/tokenledger"
bench="${build_dir}/tokenledger-bench"
log_file="${build_dir}/bench-tokenledgerd.log"
health_wait_s=60
bench_db="tokenledger_bench"

say() { echo "bench.sh: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

case "${1:-}" in
  -h | --help)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
esac

bash "${repo}/scripts/deps.sh"
BUILD_DIR="${build_dir}" bash "${repo}/scripts/build.sh" tokenledgerd tokenledger tokenledger-bench

# Without a URL: the private PostgreSQL and a database of the benchmark's own, made anew each
# run, so that figures do not drift with the history earlier runs left (every run leaves a
# tenant with its transfers, holds and idempotency keys, which a starting daemon loads).
database_url="${TOKENLEDGER_DATABASE_URL:-}"
if [[ -z "${database_url}" ]]; then
  bash "${repo}/scripts/pg.sh" start
  bash "${repo}/scripts/pg.sh" psql -c "DROP DATABASE IF EXISTS ${bench_db} WITH (FORCE)"
  bash "${repo}/scripts/pg.sh" createdb "${bench_db}"
  database_url="$(bash "${repo}/scripts/pg.sh" url "${bench_db}")"
fi

# A fresh operator key for this run only: it lives in this script's environment.
operator_key="tlo_bench_$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
port="$("${bench}" --print_free_port)"
[[ "${port}" =~ ^[0-9]+$ ]] || die "could not find a free port"
target="127.0.0.1:${port}"

daemon_pid=""
stop_daemon() {
  local i
  [[ -n "${daemon_pid}" ]] || return 0
  if kill -0 "${daemon_pid}" 2>/dev/null; then
    say "stopping tokenledgerd (pid ${daemon_pid})"
    kill -TERM "${daemon_pid}" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      kill -0 "${daemon_pid}" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "${daemon_pid}" 2>/dev/null; then
      say "tokenledgerd did not stop in 30 s: killing it"
      kill -KILL "${daemon_pid}" 2>/dev/null || true
    fi
  fi
  wait "${daemon_pid}" 2>/dev/null || true
  daemon_pid=""
}
trap stop_daemon EXIT
trap 'exit 130' INT TERM

say "starting tokenledgerd on ${target} (log ${log_file})"
printf '\n==== %s bench.sh: starting tokenledgerd on %s\n' "$(date -u +%FT%TZ)" "${target}" \
  >>"${log_file}"
# No metrics endpoint: the bench starts daemons of its own beside this one.
TOKENLEDGER_OPERATOR_KEY="${operator_key}" "${daemon}" --listen "${target}" \
  --database-url "${database_url}" --metrics-listen "" >>"${log_file}" 2>&1 </dev/null &
daemon_pid="$!"

ready=0
for ((i = 0; i < health_wait_s * 10; i++)); do
  if ! kill -0 "${daemon_pid}" 2>/dev/null; then
    say "tokenledgerd exited during start; last lines of ${log_file}:"
    tail -n 40 "${log_file}" >&2 || true
    daemon_pid=""
    exit 1
  fi
  if "${cli}" --target "${target}" --timeout 1 health >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
[[ "${ready}" -eq 1 ]] || die "tokenledgerd was not serving after ${health_wait_s} s (log ${log_file})"
say "tokenledgerd is serving on ${target} (pid ${daemon_pid})"

rc=0
TOKENLEDGER_OPERATOR_KEY="${operator_key}" TOKENLEDGER_DATABASE_URL="${database_url}" \
  "${bench}" --target "${target}" --tokenledgerd "${daemon}" "$@" || rc=$?
stop_daemon
exit "${rc}"
