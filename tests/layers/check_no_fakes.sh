#!/bin/sh
# Copyright 2026 The tokenledger Authors. Apache-2.0.
# Fails when the binary $1 contains a symbol of a test fake (MemoryStore, FaultyStore,
# FakeLeaseStore): those live in tokenledger_testing, which the daemon must never link.
set -eu
# A tree that builds only some targets (the TSan tree builds the unit tests alone) has no daemon
# to look at: skipped (ctest's SKIP_RETURN_CODE), not passed.
[ -e "$1" ] || { echo "check_no_fakes: $1 is not built here: skipped"; exit 77; }
symbols="$(nm -C "$1")" || { echo "check_no_fakes: cannot read symbols of $1" >&2; exit 2; }
[ -n "${symbols}" ] || { echo "check_no_fakes: $1 has no symbols" >&2; exit 2; }
if printf '%s\n' "${symbols}" | grep -E 'MemoryStore|FaultyStore|FakeLeaseStore'; then
  echo "check_no_fakes: $1 links a test fake (above)" >&2
  exit 1
fi
echo "check_no_fakes: $1 links no test fake"
