#!/usr/bin/env bash
# Installs everything svcdns needs to build, run and test, from Debian 12's
# packages only. Safe to run again: apt skips what is already there.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git
  # libraries the code links against
  libuv1-dev libldns-dev libabsl-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc liburcu-dev libssl-dev
  libcli11-dev nlohmann-json3-dev libmicrohttpd-dev libsystemd-dev
  libcurl4-openssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # real clients the integration tests query the server with
  bind9-dnsutils ldnsutils knot-dnsutils curl openssl procps iproute2 python3
  # real programs the integration tests put in front of the server, each run
  # by the test itself (foreground, temp dir, 127.0.0.1 high ports):
  # dnsmasq-base is the binary without the dnsmasq system service
  dnsmasq-base unbound haproxy python3-consul ruby
  # Prometheus (dns_sd_configs over svcdns); systemd for systemd-analyze, and
  # util-linux for setpriv/unshare (tests/integration/integrations_system_test.cc)
  prometheus systemd util-linux
)

# Packages whose system service the tests never use: they must not start on
# install (unbound would take port 53) nor at boot.
services=(unbound haproxy prometheus)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get install needs it)" >&2
  exit 1
fi

# systemd-resolved is only downloaded, never installed (installing it
# replaces /etc/resolv.conf): the integration test runs the binary extracted
# from the .deb in a namespace of its own. Same version as systemd, whose
# private library it links against.
resolved_debs=/var/cache/svcdns/debs
fetch_resolved() {
  local version
  version=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null) || return 0
  ls "$resolved_debs"/systemd-resolved_"${version/:/%3a}"_*.deb >/dev/null 2>&1 && return 0
  mkdir -p "$resolved_debs"
  (cd "$resolved_debs" && apt-get download -qq -o APT::Sandbox::User=root \
     "systemd-resolved=$version" >/dev/null 2>&1) ||
    { apt-get update -qq && (cd "$resolved_debs" && apt-get download -qq \
        -o APT::Sandbox::User=root "systemd-resolved=$version" >/dev/null); } ||
    echo "install-deps: could not download systemd-resolved $version (its test will skip)" >&2
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  fetch_resolved
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Keep maintainer scripts from starting services while we install: a
# policy-rc.d that denies every start, unless the machine already has one.
own_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  own_policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\n# install-deps.sh: no service starts during install\nexit 101\n' >"$own_policy"
  chmod 755 "$own_policy"
  trap 'rm -f "$own_policy"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Only services this run installed: one that was there before is the admin's.
for s in "${services[@]}"; do
  if printf '%s\n' "${missing[@]}" | grep -qx "$s"; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$s" >/dev/null 2>&1 || true
    else
      service "$s" stop >/dev/null 2>&1 || true
      systemctl disable "$s" >/dev/null 2>&1 || update-rc.d "$s" disable >/dev/null 2>&1 || true
    fi
  fi
done
fetch_resolved
echo "install-deps: done"
