#!/usr/bin/env bash
# Installs the Debian packages Valdrix builds, tests and runs with, if any is missing.
# Idempotent and quiet when everything is there; uses sudo when not run as root.
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config git
    protobuf-c-compiler libprotobuf-c-dev
    libnats-dev nats-server libcrypt-dev
    libpq-dev postgresql-15 postgresql-client-15
    libhiredis-dev redis-server
    libuv1-dev node-llhttp libcurl4-openssl-dev libssl-dev libjansson-dev libcmocka-dev
    clang-14 libclang-rt-14-dev clang-format
    wrk nginx-light curl bc python3 openssl
    python3-yaml python3-jsonschema
)

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Installing postgresql/redis must not start their system-wide services: the stack runs its own.
policy_added=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
fi
trap '[ $policy_added = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
