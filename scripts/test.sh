#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite twice: a
# normal build (build/) and one under AddressSanitizer and
# UndefinedBehaviorSanitizer (build-asan/). Ends with ctest's summary lines.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-deps.sh
else
  sudo bash scripts/install-deps.sh
fi

jobs=$(nproc)
echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"$jobs"
echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSVCDNS_SANITIZE=ON >/dev/null
ninja -C build-asan -j"$jobs"

status=0
echo "== tests (RelWithDebInfo)"
ctest --test-dir build --output-on-failure -j"$jobs" --timeout 300 || status=1
echo "== tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" --timeout 600 || status=1
exit $status
