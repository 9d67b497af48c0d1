from __future__ import annotations

from sim_host import Plain, pin_block
from sim_support import PIN, RECORD, personalise


def test_full_personalisation_and_use(host: Plain) -> None:
    personalise(host)
    data, sw = host.select()
    assert sw == 0x9000 and data[:2] == b"\x6f\x1d"
    data, sw = host.read(1)
    assert sw == 0x9000 and data[14] == 0x05  # LCS ISSUED
    data, sw = host.send(0x00, 0xB0, 0x82, 0x00, le=0, extended=True)
    assert (data, sw) == (RECORD, 0x9000)
    assert host.send(0x00, 0x20, 0x00, 0x81, pin_block(PIN))[1] == 0x9000
