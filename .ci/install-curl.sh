#!/usr/bin/env bash
# Installs curl, which tests/http_api.rs uses to run README's "Serving the
# API" example exactly as written. Idempotent.
set -euo pipefail

if command -v curl >/dev/null 2>&1; then
    echo "install-curl: found $(curl --version | head -1)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-curl: missing; run: apt-get install curl" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends curl ca-certificates
curl --version | head -1
