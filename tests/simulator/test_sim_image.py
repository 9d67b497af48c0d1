"""Card image persistence (EEPROM file)."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from sim_host import Plain, diversify, pin_block
from sim_support import MASTER_KEY, PIN, RECORD, personalise

from simulators.card import SimulatedCard
from simulators.errors import CardImageError
from simulators.image import read_image


def make(tmp_path: Path, durable: bool = True) -> SimulatedCard:
    return SimulatedCard.manufacture(
        master_keys={1: MASTER_KEY, 2: bytes(16)},
        serial=bytes.fromhex("1122334455667788"),
        image_path=tmp_path / "c.card",
        durable=durable,
    )


def test_manufacture_writes_blank_image(tmp_path: Path) -> None:
    card = make(tmp_path)
    path = tmp_path / "c.card"
    assert card.image_path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["format"] == "permit-simulated-card" and doc["version"] == 2
    state = read_image(path)
    assert state.serial == bytes.fromhex("1122334455667788") and state.kvn == 1
    k_enc, k_mac, k_dek = diversify(MASTER_KEY, state.serial, 1)
    assert (state.k_enc, state.k_mac, state.k_dek) == (k_enc, k_mac, k_dek)
    assert int(card.life_cycle) == 0x01


def test_manufacture_refuses_existing(tmp_path: Path) -> None:
    make(tmp_path)
    before = (tmp_path / "c.card").read_bytes()
    with pytest.raises(FileExistsError):
        make(tmp_path)
    assert (tmp_path / "c.card").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.card"]


def test_manufacture_arguments() -> None:
    with pytest.raises(ValueError):
        SimulatedCard.manufacture(master_keys={1: MASTER_KEY}, kvn=2)
    with pytest.raises(ValueError):
        SimulatedCard.manufacture(master_keys={0: MASTER_KEY}, kvn=0)
    with pytest.raises(ValueError):
        SimulatedCard.manufacture(master_keys={1: MASTER_KEY}, serial=b"short")
    with pytest.raises(ValueError):
        SimulatedCard.manufacture(master_keys={1: b"short"})
    a = SimulatedCard.manufacture(master_keys={1: MASTER_KEY})
    b = SimulatedCard.manufacture(master_keys={1: MASTER_KEY})
    assert len(a.serial) == 8 and a.serial != b.serial and a.image_path is None


def test_kvn_other_than_one(tmp_path: Path) -> None:
    card = SimulatedCard.manufacture(master_keys={1: bytes(16), 7: MASTER_KEY}, kvn=7)
    card.power_on()
    h = Plain(card)
    data, sw = h.send(0x80, 0x50, 0x07, 0x00, bytes(8), 256)
    assert sw == 0x9000 and data[10] == 7
    assert h.send(0x80, 0x50, 0x01, 0x00, bytes(8), 256)[1] == 0x6A88


def test_persistence_across_load(tmp_path: Path) -> None:
    card = make(tmp_path)
    card.power_on()
    h = Plain(card)
    personalise(h)
    h.select()
    public = h.read(4)[0]
    h.send(0x00, 0x20, 0x00, 0x81, pin_block("000000"))
    again = SimulatedCard.load(tmp_path / "c.card")
    assert again._store.state == card._store.state
    assert not again.powered
    again.power_on()
    h2 = Plain(again)
    h2.select()
    assert h2.read(4)[0] == public
    assert h2.send(0x00, 0xB0, 0x82, 0x00, le=0, extended=True) == (RECORD, 0x9000)
    assert h2.send(0x00, 0x20, 0x00, 0x81)[1] == 0x63C2
    assert h2.send(0x00, 0x20, 0x00, 0x81, pin_block(PIN))[1] == 0x9000
    assert h2.send(0x00, 0x88, 0x00, 0x01, bytes(8))[1] == 0x9000
    assert int(again.life_cycle) == 0x05 and again.serial == card.serial


def test_image_is_mode_600_after_commits(tmp_path: Path) -> None:
    card = make(tmp_path, durable=True)
    card.power_on()
    personalise(Plain(card))
    assert stat.S_IMODE((tmp_path / "c.card").stat().st_mode) == 0o600


def secrets_of(path: Path) -> list[str]:
    body = json.loads(path.read_text())["card"]
    return [body["k_enc"], body["k_mac"], body["k_dek"]] + [
        v for v in (body["pin"], body["puk"], body["card_key"]) if v
    ]


def corruptions(path: Path) -> dict[str, bytes]:
    good = path.read_bytes()
    doc = json.loads(good)
    out = {
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "garbage": b"\x00\xff" * 50,
        "not-an-object": b"[1, 2]",
    }
    flipped = json.loads(good)
    flipped["card"]["pin_tries"] = 3 if flipped["card"]["pin_tries"] != 3 else 2
    out["checksum"] = json.dumps(flipped).encode()
    wrong_version = dict(doc, version=99)
    out["version"] = json.dumps(wrong_version).encode()
    wrong_format = dict(doc, format="something-else")
    out["format"] = json.dumps(wrong_format).encode()
    return out


def test_corrupt_images(tmp_path: Path) -> None:
    card = make(tmp_path)
    card.power_on()
    personalise(Plain(card))
    path = tmp_path / "c.card"
    secret_values = secrets_of(path)
    for name, content in corruptions(path).items():
        bad = tmp_path / f"{name}.card"
        bad.write_bytes(content)
        with pytest.raises(CardImageError) as info:
            SimulatedCard.load(bad)
        message = str(info.value)
        assert str(bad) in message, name
        for secret in secret_values:
            assert secret not in message.lower() and secret.upper() not in message
        assert info.value.__cause__ is None


def test_structurally_invalid_image_with_valid_checksum(tmp_path: Path) -> None:
    from simulators import image

    make(tmp_path)
    path = tmp_path / "c.card"
    doc = json.loads(path.read_text())
    bad_values = [
        ("k_enc", "00"),
        ("kvn", 0),
        ("life_cycle", 2),
        ("serial", None),
        ("card_key", "00" * 32),
        ("pin_tries", 4),
        ("files", {"0102": "00" * 32769}),
    ]
    for field, value in bad_values:
        body = dict(doc["card"], **{field: value})
        bad = dict(doc, card=body, sha256=image._checksum(body))
        target = tmp_path / f"bad-{field}.card"
        target.write_text(json.dumps(bad))
        with pytest.raises(CardImageError, match="invalid"):
            SimulatedCard.load(target)
    body = dict(doc["card"])
    del body["pin"]
    target = tmp_path / "missing.card"
    target.write_text(json.dumps(dict(doc, card=body, sha256=image._checksum(body))))
    with pytest.raises(CardImageError, match="missing"):
        SimulatedCard.load(target)


def test_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(CardImageError, match="does not exist"):
        SimulatedCard.load(tmp_path / "nope.card")
    with pytest.raises(CardImageError, match="cannot be read"):
        SimulatedCard.load(tmp_path)  # a directory


def test_nothing_secret_in_logs_or_repr(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    card = make(tmp_path)
    card.power_on()
    h = Plain(card)
    personalise(h)
    h.select()
    h.send(0x00, 0x20, 0x00, 0x81, pin_block(PIN))
    text = caplog.text + repr(card) + repr(card._store.state)
    for secret in secrets_of(tmp_path / "c.card"):
        assert secret not in text.lower()
    assert PIN not in text and RECORD[:16].hex() not in text.lower()


@pytest.mark.parametrize(
    "content",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"format": "permit-simulated-card", "version": 1, "card": ' + b"[" * 100_000,
        b'{"format": "permit-simulated-card", "version": 1, "sha256": "x", "card": {"a": '
        + b"[" * 50_000
        + b"]" * 50_000
        + b"}}",
        b'{"format": "permit-simulated-card", "version": 1, "card": {"n": 1e400}}',
    ],
    ids=["deep-array", "deep-truncated", "deep-card", "huge-number"],
)
def test_deeply_nested_image_is_a_card_image_error(tmp_path: Path, content: bytes) -> None:
    """Security review (CLI fuzzing): no RecursionError escapes read_image."""
    bad = tmp_path / "deep.card"
    bad.write_bytes(content)
    with pytest.raises(CardImageError) as info:
        read_image(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
