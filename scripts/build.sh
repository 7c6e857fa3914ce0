#!/usr/bin/env bash
# Configures and builds tokenledger into ${BUILD_DIR:-<repo>/build} (RelWithDebInfo by default).
# Usage: scripts/build.sh [cmake --build target ...]
# Env: BUILD_DIR, BUILD_TYPE (default RelWithDebInfo), JOBS (default nproc), CMAKE_ARGS (extra,
# space-separated, passed to the configure step).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${BUILD_DIR:-${repo}/build}"
build_type="${BUILD_TYPE:-RelWithDebInfo}"
jobs="${JOBS:-$(nproc)}"

extra_configure=()
if [[ -n "${CMAKE_ARGS:-}" ]]; then
  read -r -a extra_configure <<<"${CMAKE_ARGS}"
fi

targets=()
for target in "$@"; do
  targets+=(--target "${target}")
done

cmake -S "${repo}" -B "${build_dir}" -DCMAKE_BUILD_TYPE="${build_type}" \
  "${extra_configure[@]+"${extra_configure[@]}"}"
cmake --build "${build_dir}" -j "${jobs}" "${targets[@]+"${targets[@]}"}"
echo "build.sh: built into ${build_dir}"
