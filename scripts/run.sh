#!/usr/bin/env bash
# The README's run command: installs dependencies, builds, starts the private PostgreSQL (unless a
# database URL is given), starts tokenledgerd in the background, creates a demo tenant with keys
# and a funded account, and prints what to try.
#
# Usage: scripts/run.sh [--database-url URL] [--foreground]
#        scripts/run.sh --stop            stop the daemon started by this script
# Env: TOKENLEDGER_DATABASE_URL, TOKENLEDGER_LISTEN (default 127.0.0.1:7443), BUILD_DIR,
#      TOKENLEDGER_PG_PORT.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-${repo}/build}"
data="${repo}/.data"
listen="${TOKENLEDGER_LISTEN:-127.0.0.1:7443}"
database_url="${TOKENLEDGER_DATABASE_URL:-}"
pid_file="${data}/tokenledgerd.pid"
log_file="${data}/tokenledgerd.log"
operator_key_file="${data}/operator.key"
demo_env="${data}/demo.env"
daemon="${build_dir}/tokenledgerd"
cli="${build_dir}/tokenledger"
tenant="demo"
health_wait_s=60

say() { echo "run.sh: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

foreground=0
stop_only=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --database-url)
      [[ $# -ge 2 ]] || die "--database-url needs a value"
      database_url="$2"
      shift 2
      ;;
    --database-url=*)
      database_url="${1#*=}"
      shift
      ;;
    --foreground) foreground=1; shift ;;
    --stop) stop_only=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done

# Prints the pid from the pid file when that process is alive and is a tokenledgerd.
running_pid() {
  local pid
  [[ -f "${pid_file}" ]] || return 1
  pid="$(tr -dc '0-9' <"${pid_file}")"
  [[ -n "${pid}" ]] || return 1
  kill -0 "${pid}" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null | grep -q tokenledgerd || return 1
  echo "${pid}"
}

stop_daemon() {
  local pid i
  if ! pid="$(running_pid)"; then
    rm -f "${pid_file}"
    return 0
  fi
  say "stopping tokenledgerd (pid ${pid})"
  kill -TERM "${pid}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "${pid}" 2>/dev/null; then
    say "tokenledgerd (pid ${pid}) did not stop in 20 s: killing it"
    kill -KILL "${pid}" 2>/dev/null || true
  fi
  rm -f "${pid_file}"
}

if [[ "${stop_only}" -eq 1 ]]; then
  stop_daemon
  say "stopped (the database keeps running: scripts/pg.sh stop)"
  exit 0
fi

bash "${repo}/scripts/deps.sh"
BUILD_DIR="${build_dir}" bash "${repo}/scripts/build.sh" tokenledgerd tokenledger

mkdir -p "${data}"
if [[ -z "${database_url}" ]]; then
  bash "${repo}/scripts/pg.sh" start
  database_url="$(bash "${repo}/scripts/pg.sh" url)"
fi

if [[ ! -s "${operator_key_file}" ]]; then
  (
    umask 077
    printf 'tlo_%s\n' "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" >"${operator_key_file}"
  )
  say "generated a new operator key in ${operator_key_file}"
fi
chmod 0600 "${operator_key_file}"
operator_key="$(tr -d '[:space:]' <"${operator_key_file}")"

# The CLI's target: the listen address, with a wildcard host replaced by loopback.
listen_port="${listen##*:}"
listen_host="${listen%:*}"
case "${listen_host}" in
  "" | 0.0.0.0 | "[::]" | "::") target="127.0.0.1:${listen_port}" ;;
  *) target="${listen}" ;;
esac
export TOKENLEDGER_TARGET="${target}"

daemon_args=(--listen "${listen}" --database-url "${database_url}"
  --operator-key-file "${operator_key_file}")

stop_daemon
say "starting tokenledgerd on ${listen} (log ${log_file})"
# Database URLs are shown with their password masked.
mask_password() { sed -E 's#(://[^:/@ ]*):[^@ ]*@#\1:***@#g' <<<"$1"; }
printf '\n==== %s run.sh: starting tokenledgerd %s\n' "$(date -u +%FT%TZ)" \
  "$(mask_password "${daemon_args[*]}")" >>"${log_file}"
nohup "${daemon}" "${daemon_args[@]}" >>"${log_file}" 2>&1 </dev/null &
echo "$!" >"${pid_file}"
daemon_pid="$!"

ready=0
for ((i = 0; i < health_wait_s * 2; i++)); do
  if ! kill -0 "${daemon_pid}" 2>/dev/null; then
    say "tokenledgerd exited during start; last lines of ${log_file}:"
    tail -n 40 "${log_file}" >&2 || true
    rm -f "${pid_file}"
    exit 1
  fi
  if "${cli}" --target "${target}" --timeout 2 health >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.5
done
if [[ "${ready}" -ne 1 ]]; then
  say "tokenledgerd did not report SERVING within ${health_wait_s} s; last lines of ${log_file}:"
  tail -n 40 "${log_file}" >&2 || true
  stop_daemon
  exit 1
fi
say "tokenledgerd is serving on ${target} (pid ${daemon_pid})"

# tl KEY ARGS...: runs the CLI with KEY; prints its stderr on failure and returns its status.
cli_err="$(mktemp)"
trap 'rm -f "${cli_err}"' EXIT
tl() {
  local key="$1" rc=0
  shift
  TOKENLEDGER_KEY="${key}" "${cli}" --target "${target}" "$@" 2>"${cli_err}" || rc=$?
  if [[ "${rc}" -ne 0 ]]; then
    cat "${cli_err}" >&2
  fi
  return "${rc}"
}

# The demo tenant: an existing one (ALREADY_EXISTS) is fine.
if ! TOKENLEDGER_KEY="${operator_key}" "${cli}" --target "${target}" tenant create "${tenant}" \
  --display-name "Demo Company" --unit usd_micros --timezone UTC \
  --idempotency-key "run-sh-create-tenant-${tenant}" >/dev/null 2>"${cli_err}"; then
  if ! grep -q 'ALREADY_EXISTS' "${cli_err}"; then
    cat "${cli_err}" >&2
    die "could not create tenant ${tenant}"
  fi
  say "tenant ${tenant} already exists"
fi

# Keys: reuse the ones from the last run while they still authenticate, else make new ones.
key_works() {
  local key="$1" rc=0
  shift
  TOKENLEDGER_KEY="${key}" "${cli}" --target "${target}" "$@" >/dev/null 2>"${cli_err}" || rc=$?
  [[ "${rc}" -eq 0 ]] && return 0
  ! grep -qE 'UNAUTHENTICATED|PERMISSION_DENIED' "${cli_err}"
}
admin_key="" hr_key="" gateway_key=""
if [[ -f "${demo_env}" ]]; then
  # shellcheck disable=SC1090
  source "${demo_env}"
fi
if [[ -n "${admin_key}" && -n "${hr_key}" && -n "${gateway_key}" ]] &&
  key_works "${admin_key}" balance alice && key_works "${hr_key}" balance alice &&
  key_works "${gateway_key}" check alice 1; then
  say "reusing the demo keys in ${demo_env}"
else
  new_key() {
    tl "${operator_key}" --json key create "$1" --tenant "${tenant}" |
      python3 -c 'import json, sys; print(json.load(sys.stdin)["key"])'
  }
  admin_key="$(new_key admin)" || die "could not create the admin key"
  hr_key="$(new_key hr)" || die "could not create the hr key"
  gateway_key="$(new_key gateway)" || die "could not create the gateway key"
  [[ -n "${admin_key}" && -n "${hr_key}" && -n "${gateway_key}" ]] || die "empty key returned"
  (
    umask 077
    printf 'admin_key=%q\nhr_key=%q\ngateway_key=%q\n' "${admin_key}" "${hr_key}" \
      "${gateway_key}" >"${demo_env}"
  )
  say "created admin, hr and gateway keys (saved in ${demo_env})"
fi

# A demo account with a monthly policy and a one-off grant. Fixed idempotency keys: a rerun
# replays the same requests and changes nothing.
tl "${hr_key}" account upsert alice --display-name "Alice Example" \
  --monthly-allocation 50000000 --rollover-max 10000000 --daily-limit 20000000 \
  --overdraft-limit 0 --idempotency-key run-sh-upsert-alice-v1 >/dev/null ||
  die "could not upsert account alice"
tl "${hr_key}" grant alice 25000000 --memo "run.sh demo grant" \
  --idempotency-key run-sh-grant-alice-v1 >/dev/null || die "could not grant alice a budget"
# A demo price: gpt-4o at $2.50 per million input tokens and $10.00 per million output tokens.
tl "${admin_key}" price set gpt-4o --input-per-million 2500000 --output-per-million 10000000 \
  --cached-input-per-million 1250000 --idempotency-key run-sh-price-gpt-4o-v1 >/dev/null ||
  die "could not set the demo price of gpt-4o"
balance="$(tl "${hr_key}" balance alice)" || die "could not read alice's balance"

cat <<TXT

================================================================================
tokenledgerd is running.
  target        ${target}
  database      $(mask_password "${database_url}")
  operator key  ${operator_key}   (file ${operator_key_file})
  tenant        ${tenant}
  admin key     ${admin_key}
  hr key        ${hr_key}
  gateway key   ${gateway_key}
  (the tenant keys are saved in ${demo_env})

Account alice (amounts in usd_micros: 1000000 = 1 USD):
${balance}

Try:
  # 1. As the gateway: hold the priced cost of a gpt-4o call (\$2.50 / \$10.00 per million
  #    input / output tokens), then debit the tokens it used; the ledger prices them.
  TOKENLEDGER_KEY=${gateway_key} ${cli} --target ${target} authorize alice --input-tokens 1234 --max-output-tokens 1000 --model gpt-4o
  TOKENLEDGER_KEY=${gateway_key} ${cli} --target ${target} debit alice --input-tokens 1234 --output-tokens 567 --hold <hold_id> --model gpt-4o
  TOKENLEDGER_KEY=${admin_key} ${cli} --target ${target} price list

  # 2. Read alice's balance and transfers as HR (add --json for machine output).
  TOKENLEDGER_KEY=${hr_key} ${cli} --target ${target} balance alice
  TOKENLEDGER_KEY=${hr_key} ${cli} --target ${target} transfers alice --limit 10

  # 3. The same Authorize with grpcurl (server reflection is on):
  grpcurl -plaintext -H 'authorization: Bearer ${gateway_key}' \\
    -d '{"account_id":"alice","amount":"1000000","idempotency_key":"try-1"}' \\
    ${target} tokenledger.v1.AuthorizationService/Authorize

  # 4. Prometheus metrics, liveness and readiness (--metrics-listen, default 127.0.0.1:9464):
  curl -s http://127.0.0.1:9464/metrics | grep tokenledger_grpc_calls_total
  curl -s http://127.0.0.1:9464/readyz

  More: ${cli} help ; health: ${cli} --target ${target} health

TXT
if [[ "${foreground}" -eq 1 ]]; then
  echo "Log:  this terminal (tokenledgerd runs in the foreground now; Ctrl-C stops it)"
else
  echo "Log:  ${log_file}"
fi
echo "Stop: scripts/run.sh --stop   (the daemon)    scripts/pg.sh stop   (the database)"
echo "================================================================================"

if [[ "${foreground}" -eq 1 ]]; then
  stop_daemon
  say "running tokenledgerd in the foreground (Ctrl-C to stop)"
  echo "$$" >"${pid_file}"
  rm -f "${cli_err}"
  trap - EXIT
  exec "${daemon}" "${daemon_args[@]}"
fi
