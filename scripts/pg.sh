#!/usr/bin/env bash
# A private PostgreSQL 15 cluster for development and tests, under <repo>/.data/pg.
#
# Usage: scripts/pg.sh start|stop|status|url [DBNAME]|createdb DBNAME|psql [psql args...]
#   start     initialise the cluster if needed, start it (no-op when running), wait until it
#             accepts connections, create database "tokenledger" if missing
#   stop      stop it (no-op when stopped)
#   status    exit 0 when running, 3 when stopped
#   url       print postgresql://postgres@127.0.0.1:PORT/tokenledger (or DBNAME)
#   createdb  create DBNAME if missing (the cluster must be running)
#   psql      run psql against the "tokenledger" database
#
# Env: TOKENLEDGER_PG_PORT (default 55432).
# The cluster listens on 127.0.0.1 and on a unix socket inside its data directory, trusts local
# connections only, and never touches the system-wide Debian cluster (port 5432).
# As root it runs as the "postgres" system user (PostgreSQL refuses to run as root). If that user
# cannot reach <repo>/.data (a parent directory is not traversable), the data directory falls back
# to /tmp/tokenledger-pg-<uid>-<hash of the repo path>.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${TOKENLEDGER_PG_PORT:-55432}"
pg_version=15
pg_bin="/usr/lib/postgresql/${pg_version}/bin"
default_db="tokenledger"
superuser="postgres"
# A unix socket path is limited to 107 bytes; ".s.PGSQL.<port>.lock" needs about 22 of them.
socket_dir_max_len=85

log() { echo "pg.sh: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

[[ "${port}" =~ ^[0-9]+$ ]] || die "TOKENLEDGER_PG_PORT must be a number, got '${port}'"

# run_pg CMD...: runs a server-side command as the cluster owner, from a directory it can read.
if [[ "$(id -u)" -eq 0 ]]; then
  id "${superuser}" >/dev/null 2>&1 ||
    die "system user '${superuser}' is missing: run scripts/deps.sh (installs postgresql)"
  run_pg() { (cd / && runuser -u "${superuser}" -- "$@"); }
  owner="${superuser}"
else
  run_pg() { (cd / && "$@"); }
  owner="$(id -un)"
fi

# Picks the data directory: <repo>/.data/pg when the owner can reach it, else a /tmp fallback.
choose_data_dir() {
  local preferred="${repo}/.data/pg"
  local reason=""
  if [[ "$(id -u)" -eq 0 ]]; then
    mkdir -p "${repo}/.data"
    chmod a+x "${repo}/.data"
    if ! runuser -u "${superuser}" -- test -x "${repo}/.data" 2>/dev/null; then
      reason="user '${superuser}' cannot traverse every parent directory of ${repo}"
    fi
  fi
  if [[ -z "${reason}" && ${#preferred} -gt ${socket_dir_max_len} ]]; then
    reason="${preferred} is too long for a unix socket path"
  fi
  if [[ -z "${reason}" ]]; then
    data_dir="${preferred}"
    return
  fi
  local hash
  hash="$(printf '%s' "${repo}" | sha256sum | cut -c1-12)"
  data_dir="/tmp/tokenledger-pg-$(id -u)-${hash}"
  log "note: ${reason}; using data directory ${data_dir} instead"
}

pg_ctl_status() {
  # 0 running, 3 not running, 4 no (valid) data directory.
  local rc=0
  run_pg "${pg_bin}/pg_ctl" status -D "${data_dir}" >/dev/null 2>&1 || rc=$?
  return "${rc}"
}

is_running() { pg_ctl_status; }

psql_admin() {
  # Superuser psql over the unix socket inside the data directory.
  "${pg_bin}/psql" -X -q -v ON_ERROR_STOP=1 -h "${data_dir}" -p "${port}" -U "${superuser}" "$@"
}

init_cluster() {
  [[ -x "${pg_bin}/initdb" ]] ||
    die "${pg_bin}/initdb not found: run scripts/deps.sh (installs postgresql ${pg_version})"
  if [[ -f "${data_dir}/PG_VERSION" ]]; then
    return
  fi
  if [[ -d "${data_dir}" && -n "$(ls -A "${data_dir}")" ]]; then
    die "${data_dir} exists, is not empty and holds no cluster: remove it and retry"
  fi
  log "initialising a new cluster in ${data_dir}"
  mkdir -p "${data_dir}"
  if [[ "$(id -u)" -eq 0 ]]; then
    chown "${owner}:" "${data_dir}"
  fi
  chmod 0700 "${data_dir}"
  run_pg "${pg_bin}/initdb" -D "${data_dir}" -U "${superuser}" --auth=trust --encoding=UTF8 \
    --locale=C --no-instructions >/dev/null
}

write_config() {
  # Rewritten on every start so that a changed port or setting takes effect.
  local conf="${data_dir}/tokenledger.conf"
  local tmp
  tmp="$(mktemp)"
  cat >"${tmp}" <<CONF
# Written by scripts/pg.sh on every start: edit the script, not this file.
listen_addresses = '127.0.0.1'
port = ${port}
unix_socket_directories = '${data_dir}'
unix_socket_permissions = 0770
max_connections = 200
shared_buffers = 256MB
effective_cache_size = 1GB
work_mem = 8MB
maintenance_work_mem = 128MB
max_worker_processes = 4
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
fsync = on
synchronous_commit = on
full_page_writes = on
wal_buffers = 16MB
max_wal_size = 2GB
checkpoint_completion_target = 0.9
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_min_duration_statement = 1000
CONF
  install -m 0644 "${tmp}" "${conf}"
  rm -f "${tmp}"

  cat >"${tmp}" <<'HBA'
# Written by scripts/pg.sh: trust, but only on this machine.
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
HBA
  install -m 0600 "${tmp}" "${data_dir}/pg_hba.conf"
  rm -f "${tmp}"

  if ! grep -q "^include_if_exists = 'tokenledger.conf'" "${data_dir}/postgresql.conf"; then
    printf "\ninclude_if_exists = 'tokenledger.conf'\n" >>"${data_dir}/postgresql.conf"
  fi
  if [[ "$(id -u)" -eq 0 ]]; then
    chown "${owner}:" "${conf}" "${data_dir}/pg_hba.conf" "${data_dir}/postgresql.conf"
  fi
}

running_port() {
  # Line 4 of postmaster.pid is the port the running server listens on.
  sed -n '4p' "${data_dir}/postmaster.pid" 2>/dev/null || true
}

wait_ready() {
  local i
  for ((i = 0; i < 60; i++)); do
    if "${pg_bin}/pg_isready" -q -h 127.0.0.1 -p "${port}" -d postgres -U "${superuser}"; then
      return 0
    fi
    sleep 0.5
  done
  die "PostgreSQL did not become ready on 127.0.0.1:${port} (log: ${data_dir}/postgresql.log)"
}

create_db() {
  local name="$1"
  [[ "${name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad database name '${name}'"
  if [[ -z "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '${name}'")" ]]
  then
    psql_admin -d postgres -c "CREATE DATABASE \"${name}\"" >/dev/null
    log "created database ${name}"
  fi
}

cmd_start() {
  if is_running; then
    local actual
    actual="$(running_port)"
    if [[ -n "${actual}" && "${actual}" != "${port}" ]]; then
      die "cluster in ${data_dir} already runs on port ${actual}, not ${port}: stop it first"
    fi
    wait_ready
    create_db "${default_db}"
    log "already running on 127.0.0.1:${port} (data ${data_dir})"
    return 0
  fi
  init_cluster
  if [[ "$(id -u)" -eq 0 && "$(stat -c %U "${data_dir}")" != "${owner}" ]]; then
    # E.g. a tree copied by root: give the cluster back to its owner.
    chown -R "${owner}:" "${data_dir}"
  fi
  write_config
  if "${pg_bin}/pg_isready" -q -h 127.0.0.1 -p "${port}"; then
    die "another server already listens on 127.0.0.1:${port}; set TOKENLEDGER_PG_PORT to another port"
  fi
  local logfile="${data_dir}/postgresql.log"
  if ! run_pg "${pg_bin}/pg_ctl" start -D "${data_dir}" -l "${logfile}" -w -t 60 >/dev/null; then
    log "pg_ctl start failed; last lines of ${logfile}:"
    tail -n 30 "${logfile}" >&2 || true
    exit 1
  fi
  wait_ready
  create_db "${default_db}"
  log "running on 127.0.0.1:${port} (data ${data_dir}, log ${logfile})"
}

cmd_stop() {
  if ! is_running; then
    log "not running (data ${data_dir})"
    return 0
  fi
  run_pg "${pg_bin}/pg_ctl" stop -D "${data_dir}" -m fast -w -t 60 >/dev/null
  log "stopped (data ${data_dir})"
}

cmd_status() {
  local rc=0
  pg_ctl_status || rc=$?
  case "${rc}" in
    0) echo "running on 127.0.0.1:$(running_port) (data ${data_dir})" ;;
    4) echo "not initialised (data ${data_dir})"; return 3 ;;
    *) echo "stopped (data ${data_dir})"; return 3 ;;
  esac
}

choose_data_dir
command="${1:-}"
[[ $# -gt 0 ]] && shift
case "${command}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) echo "postgresql://${superuser}@127.0.0.1:${port}/${1:-${default_db}}" ;;
  createdb)
    [[ $# -eq 1 ]] || die "usage: $0 createdb DBNAME"
    is_running || die "not running: run $0 start first"
    create_db "$1"
    ;;
  psql) psql_admin -d "${default_db}" "$@" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
