#!/usr/bin/env bash
# Installs the dependencies, builds svcdns, and starts it in the background
# serving the bundled example services on 127.0.0.1:8600 (UDP and TCP).
#   dig @127.0.0.1 -p 8600 web.service.consul SRV
# Stop it with: kill "$(cat build/svcdns.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-deps.sh
else
  sudo bash scripts/install-deps.sh
fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build svcdns

if [ -f build/svcdns.pid ] && kill -0 "$(cat build/svcdns.pid)" 2>/dev/null; then
  echo "stopping the svcdns started before (pid $(cat build/svcdns.pid))"
  kill "$(cat build/svcdns.pid)"
  sleep 1
fi
nohup build/svcdns serve --config-dir deploy/examples/services \
  --dns-addr 127.0.0.1:8600 >build/svcdns.log 2>&1 &
echo $! >build/svcdns.pid

for _ in $(seq 50); do
  if dig @127.0.0.1 -p 8600 +time=1 +tries=1 web.service.consul SRV >/dev/null 2>&1; then
    echo "svcdns is serving deploy/examples/services on 127.0.0.1:8600 (pid $(cat build/svcdns.pid), log build/svcdns.log)"
    echo "try: dig @127.0.0.1 -p 8600 web.service.consul SRV"
    exit 0
  fi
  sleep 0.2
done
echo "svcdns did not start; its log:" >&2
cat build/svcdns.log >&2
exit 1
