#!/usr/bin/env bash
# Installs the Debian packages listed in scripts/packages.txt (build and test) and
# scripts/packages-runtime.txt (run time), or in the list files given as arguments.
# Skips apt-get entirely when every package is already installed, unless FORCE_APT=1.
#
# Usage: scripts/deps.sh [LIST_FILE...]
#   e.g. scripts/deps.sh scripts/packages-runtime.txt   (what the container image's final stage does)
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
packages_files=("$@")
if [[ ${#packages_files[@]} -eq 0 ]]; then
  packages_files=("${script_dir}/packages.txt" "${script_dir}/packages-runtime.txt")
fi
for f in "${packages_files[@]}"; do
  [[ -r "${f}" ]] || { echo "deps.sh: cannot read package list ${f}" >&2; exit 1; }
done

# Package names: strip comments and blank lines.
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "${packages_files[@]}" | grep -v '^$')
if [[ ${#packages[@]} -eq 0 ]]; then
  echo "deps.sh: no packages listed in ${packages_files[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "${pkg}" 2>/dev/null || true)"
  if [[ "${status}" != "installed" ]]; then
    missing+=("${pkg}")
  fi
done

if [[ ${#missing[@]} -eq 0 && "${FORCE_APT:-0}" != "1" ]]; then
  echo "deps.sh: all ${#packages[@]} packages already installed (FORCE_APT=1 to run apt-get anyway)"
  exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "deps.sh: must run as root (or with sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "deps.sh: installing missing packages: ${missing[*]}"
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
  "${packages[@]}"
echo "deps.sh: done"
