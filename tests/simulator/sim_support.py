"""Helpers and constants shared by the simulator tests."""

from __future__ import annotations

from sim_host import Channel, Plain, open_channel, pin_block

MASTER_KEY = bytes(range(16))
KVN = 1
PIN = "123456"
PUK = "87654321"
RECORD = bytes(range(256)) * 4


def channel(plain: Plain) -> Channel:
    ch, sw = open_channel(plain, MASTER_KEY, KVN)
    assert ch is not None, f"{sw:04X}"
    return ch


def to_personalising(plain: Plain) -> Channel:
    plain.select()
    ch = channel(plain)
    assert ch.set_status(0x03) == 0x9000
    return ch


def personalise(plain: Plain, *, lock: bool = True) -> Channel:
    """BLANK -> fully personalised (and ISSUED if ``lock``)."""
    return finish(to_personalising(plain), lock=lock)


def finish(ch: Channel, *, lock: bool = True) -> Channel:
    """PERSONALISING, channel open -> everything written (and ISSUED if ``lock``)."""
    assert ch.update(2, 0, RECORD) == 0x9000
    assert ch.send(0x00, 0x47, 0x00, 0x01)[1] == 0x9000
    assert ch.send(0x00, 0x24, 0x01, 0x81, pin_block(PIN))[1] == 0x9000
    assert ch.send(0x00, 0x24, 0x01, 0x82, pin_block(PUK))[1] == 0x9000
    if lock:
        assert ch.set_status(0x05) == 0x9000
    return ch
