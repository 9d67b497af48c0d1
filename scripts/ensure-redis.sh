#!/usr/bin/env bash
# Make sure a Redis server answers on 127.0.0.1:6379, as CI and the shared-state tests expect
# (docs/shared-state.md).  Installs Debian's redis-server when missing (root only) and starts
# it when it is down (the packaged service, else redis-server on the packaged config,
# daemonized).  Exits non-zero if it still does not answer.
set -euo pipefail
host=127.0.0.1 port=6379
up() { [ "$(redis-cli -h "$host" -p "$port" ping 2>/dev/null)" = PONG ]; }
if command -v redis-cli >/dev/null 2>&1 && up; then
  echo "redis: up on $host:$port"; exit 0
fi
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "redis: not installed and not root (sudo apt-get install -y redis-server)" >&2; exit 1
  fi
  echo "redis: installing Debian's redis-server"
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
fi
echo "redis: starting redis-server"
if ! { command -v service >/dev/null 2>&1 && service redis-server start >/dev/null 2>&1 && sleep 1 && up; }; then
  conf=/etc/redis/redis.conf
  if [ -r "$conf" ] && [ "$(id -u)" = 0 ]; then
    redis-server "$conf" --bind "$host" --port "$port" --daemonize yes
  else  # no packaged config we may use: an ephemeral server without persistence
    redis-server --bind "$host" --port "$port" --save "" --appendonly no --daemonize yes \
      --dir "${TMPDIR:-/tmp}"
  fi
fi
for _ in $(seq 1 30); do
  up && { echo "redis: up on $host:$port"; exit 0; }
  sleep 1
done
echo "redis: still not answering on $host:$port" >&2
exit 1
