#!/usr/bin/env bash
# Installs the PostgreSQL server binaries the `postgres` feature's tests and
# benches start throwaway servers with (initdb, pg_ctl). Idempotent: does
# nothing when a server installation is already present.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "install-postgres: found $(ls /usr/lib/postgresql/*/bin/initdb | head -n1)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-postgres: PostgreSQL is missing and this is not root; run: apt-get install postgresql" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql
ls /usr/lib/postgresql/*/bin/initdb
