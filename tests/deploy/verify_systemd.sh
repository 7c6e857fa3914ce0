#!/usr/bin/env bash
# Checks deploy/systemd/tokenledgerd.service offline, without a running systemd:
#  - `systemd-analyze verify` accepts it and prints no warning about it (an unknown key or a value
#    that does not parse is only a warning there, exit status 0: both count as failures here);
#  - `systemd-analyze security --offline` rates its sandbox at most 2.0 ("OK") on systemd's
#    0-10 exposure scale.
# ExecStart names the installed binary, which need not exist here: a copy of the unit points it at
# the binary given (the built tokenledgerd), else at /bin/true.
#
# Usage: tests/deploy/verify_systemd.sh [TOKENLEDGERD_BINARY]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
unit_name="tokenledgerd.service"
unit="${repo}/deploy/systemd/${unit_name}"
binary="${1:-/bin/true}"
max_exposure=20 # systemd's --threshold is in tenths: 20 = 2.0

fail() {
  echo "verify_systemd: FAIL: $*" >&2
  exit 1
}

command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (scripts/deps.sh installs systemd)"
[[ -f "${unit}" ]] || fail "missing ${unit}"
[[ -x "${binary}" ]] || fail "not an executable: ${binary}"
binary="$(cd "$(dirname "${binary}")" && pwd)/$(basename "${binary}")"

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

grep -q '^ExecStart=/' "${unit}" || fail "${unit_name} has no ExecStart= with an absolute path"
sed -E "s#^ExecStart=[^ ]+#ExecStart=${binary}#" "${unit}" >"${tmp}/${unit_name}"

rc=0
out="$(cd "${tmp}" && systemd-analyze verify --man=no --generators=no "./${unit_name}" 2>&1)" || rc=$?
if [[ "${rc}" -ne 0 ]]; then
  printf '%s\n' "${out}" >&2
  fail "systemd-analyze verify exited ${rc}"
fi
if grep -F "${unit_name}" <<<"${out}" >&2; then
  fail "systemd-analyze verify warned about ${unit_name} (above)"
fi
echo "verify_systemd: systemd-analyze verify: ok"

rc=0
out="$(cd "${tmp}" && systemd-analyze security --offline=yes --threshold="${max_exposure}" \
  "./${unit_name}" 2>&1)" || rc=$?
summary="$(grep -F 'Overall exposure level' <<<"${out}" || true)"
if [[ "${rc}" -ne 0 || -z "${summary}" ]]; then
  printf '%s\n' "${out}" >&2
  fail "systemd-analyze security: exposure above $((max_exposure / 10)).$((max_exposure % 10)) (or no rating, exit ${rc})"
fi
echo "verify_systemd: systemd-analyze security: ${summary#*: }"
echo "verify_systemd: PASS"
