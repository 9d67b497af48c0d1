#!/usr/bin/env bash
# `make run`: make sure a pcscd with vpcd readers runs, start the simulator fleet,
# show the readers, then keep the simulator in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
CARDS=${CARDS:-1}
PORT=35963   # Debian's /etc/reader.conf.d/vpcd (CHANNELID 0x8C7B)

SIMDIR=$($BIN/python -c 'from card_service.settings import permit_home; print(permit_home() / "sim")')
mkdir -p "$SIMDIR"

if [ -S /run/pcscd/pcscd.comm ] && $BIN/permit readers >/dev/null 2>&1; then
    echo "run: using the running pcscd"
    if [ "$CARDS" -gt 2 ]; then
        echo "run: note: $CARDS cards need $(( (CARDS + 1) / 2 )) vpcd entries; the simulator writes them to" \
             "$SIMDIR/reader.conf - copy it to /etc/reader.conf.d/ and restart pcscd" >&2
    fi
else
    if [ "$(id -u)" != 0 ]; then
        echo "run: no pcscd running and not root: start it (e.g. sudo systemctl start pcscd.socket)" >&2
        exit 1
    fi
    CONF="$SIMDIR/reader.conf.d"
    mkdir -p "$CONF"
    $BIN/python -c "from simulators.pcscd_private import reader_conf; print(reader_conf('Virtual PCD', $PORT, $CARDS))" \
        > "$CONF/vpcd"
    echo "run: starting pcscd with vpcd readers from $CONF"
    mkdir -p /run/pcscd
    pcscd -c "$CONF"
    for _ in $(seq 50); do [ -S /run/pcscd/pcscd.comm ] && break; sleep 0.1; done
fi

echo "run: permit sim start --cards $CARDS"
$BIN/permit sim start --cards "$CARDS" --port "$PORT" &
SIM=$!
trap 'kill -TERM $SIM 2>/dev/null || true' INT TERM
for _ in $(seq 100); do
    [ -S "$SIMDIR/control.sock" ] && break
    kill -0 $SIM 2>/dev/null || { wait $SIM; exit $?; }
    sleep 0.1
done
for _ in $(seq 50); do
    $BIN/permit readers --json 2>/dev/null | grep -q '"card_present": true' && break
    sleep 0.1
done
$BIN/permit readers
echo "run: simulator running (permit sim list / insert / remove / tear); Ctrl-C to stop"
wait $SIM
