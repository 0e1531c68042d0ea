#!/usr/bin/env bash
# Installs what tests/vectors/crosscheck.py needs: Python 3 and the
# `cryptography` package (for AES-GCM). Idempotent.
set -euo pipefail

if python3 -c 'import cryptography' 2>/dev/null; then
    echo "install-python-crypto: found cryptography $(python3 -c 'import cryptography; print(cryptography.__version__)')"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-python-crypto: missing; run: apt-get install python3-cryptography" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends python3 python3-cryptography
python3 -c 'import cryptography'
