#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on 127.0.0.1:5432 (trust auth, user postgres), as CI
# and the register tests expect.  Installs Debian's postgresql when missing (root only) and
# starts the local cluster when it is down.  Exits non-zero if it still does not answer.
set -euo pipefail
host=127.0.0.1 port=5432
if pg_isready -q -h "$host" -p "$port" 2>/dev/null; then
  echo "postgres: up on $host:$port"; exit 0
fi
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "postgres: not installed and not root (sudo apt-get install -y postgresql)" >&2; exit 1
  fi
  echo "postgres: installing Debian's postgresql"
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi
version=$(ls /etc/postgresql | sort -V | tail -n 1)
conf=/etc/postgresql/$version/main
# trust auth on loopback for the test user, as the CI machines are configured
if ! grep -Eq '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$conf/pg_hba.conf"; then
  sed -i '1i host all all 127.0.0.1/32 trust' "$conf/pg_hba.conf"
fi
echo "postgres: starting cluster $version/main"
pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
for _ in $(seq 1 30); do
  pg_isready -q -h "$host" -p "$port" && { echo "postgres: up on $host:$port"; exit 0; }
  sleep 1
done
echo "postgres: still not answering on $host:$port" >&2
exit 1
