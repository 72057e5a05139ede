#!/usr/bin/env bash
# Builds the test suite with AddressSanitizer and UBSan (build-asan/) and runs
# every test on it: a memory error, a leak or undefined behaviour in ledgerd,
# ledgerctl or a test fails the run. Leaks are reported when a process exits
# normally; the tests stop every ledgerd they leave running with SIGTERM and
# require a clean exit. -O1 and line tables only keep the
# build short: about 3.5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUDITLEDGER_SANITIZE=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" >/dev/null
cmake --build build-asan -j2
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
ctest --test-dir build-asan -j2 --output-on-failure
