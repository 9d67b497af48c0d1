"""PermitCardSession against the real simulator, through the reader drivers (``card_env``:
sim and PC/SC) and directly with no transport (``direct_card``)."""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from typing import Any

import pytest

from card_service.card.apdu import CommandApdu
from card_service.card.errors import (
    ConditionsNotSatisfied,
    PinBlocked,
    SecureChannelError,
    SecurityStatusNotSatisfied,
    WrongPin,
    WrongPuk,
)
from card_service.card.scp03 import StaticKeys, diversify_card_keys
from card_service.card.session import PermitCardSession, verify_card_signature
from card_service.card.wire import FileId, LifeCycle

PIN, PUK = "493817", "27364519"


class Recorder:
    """Proxy connection: records APDUs and can pretend the reader is short-length only."""

    def __init__(self, conn: Any, *, extended: bool | None = None) -> None:
        self._conn = conn
        self.sent: list[bytes] = []
        self.supports_extended_length = (
            conn.supports_extended_length if extended is None else extended
        )

    @property
    def reader(self) -> str:
        return str(self._conn.reader)

    @property
    def atr(self) -> bytes:
        return bytes(self._conn.atr)

    def transmit(self, apdu: bytes) -> tuple[bytes, int]:
        self.sent.append(apdu)
        data, sw = self._conn.transmit(apdu)
        return bytes(data), int(sw)

    def transaction(self) -> AbstractContextManager[None]:
        return self._conn.transaction()  # type: ignore[no-any-return]

    def disconnect(self) -> None:
        self._conn.disconnect()

    def extended_sent(self) -> int:
        return sum(1 for a in self.sent if len(a) >= 7 and a[4] == 0)


def keys_for(master_key: bytes) -> Any:
    def provider(serial: bytes, kvn: int) -> StaticKeys:
        return diversify_card_keys(master_key, serial, kvn)

    return provider


def personalise(s: PermitCardSession, master_key: bytes, record: bytes = b"\xa1\x01\x02") -> None:
    s.select()
    s.open_issuer_channel(keys_for(master_key))
    s.begin_personalisation()
    s.generate_card_key()
    s.write_file(FileId.RECORD, record)
    s.set_pin(PIN)
    s.set_puk(PUK)


class Flows:
    """Integration flows; subclasses provide the ``target`` fixture."""

    def session(
        self, target: Any, *, extended: bool | None = None
    ) -> tuple[PermitCardSession, Recorder]:
        conn = Recorder(target.connect(), extended=extended)
        return PermitCardSession(conn), conn

    @pytest.mark.parametrize("extended", [True, False], ids=["extended", "chaining"])
    def test_full_personalisation(self, target: Any, extended: bool) -> None:
        s, conn = self.session(target, extended=extended)
        app = s.select()
        assert app.life_cycle is LifeCycle.BLANK and app.serial == target.card.serial
        info = s.read_card_info()
        assert (info.life_cycle, info.kvn, info.flags) == (LifeCycle.BLANK, target.kvn, 0)

        s.open_issuer_channel(keys_for(target.master_key))
        assert s.issuer_channel_open
        s.begin_personalisation()
        public = s.generate_card_key()
        record = os.urandom(32768)
        s.write_file(FileId.RECORD, record)
        s.write_file(FileId.ENDORSEMENTS, b"E1" * 100)
        assert s.append_file(FileId.ENDORSEMENTS, b"E2" * 300) == 200
        s.write_file(FileId.HOLDER_DATA, b"contact: +41 00 000 00 00")
        s.set_pin(PIN)
        s.set_puk(PUK)

        assert s.read_file(FileId.RECORD) == record
        assert s.read_file(FileId.ENDORSEMENTS) == b"E1" * 100 + b"E2" * 300
        assert s.read_file(FileId.HOLDER_DATA) == b"contact: +41 00 000 00 00"
        info = s.read_card_info()
        assert info.life_cycle is LifeCycle.PERSONALISING
        assert info.card_key_present and info.pin_set and info.puk_set

        challenge = os.urandom(32)
        signature = s.internal_authenticate(challenge)
        assert verify_card_signature(public, challenge, signature)
        assert s.read_card_public_key().public_numbers() == public.public_numbers()
        s.lock()
        assert target.card.life_cycle is LifeCycle.ISSUED

        if extended:
            assert conn.extended_sent() > 0
        else:
            assert conn.extended_sent() == 0
            assert any(a[0] & 0x10 for a in conn.sent)  # chained commands were used

        # a fresh plain session reads everything back
        s.select()
        assert s.read_file(FileId.RECORD) == record
        assert s.read_card_info().life_cycle is LifeCycle.ISSUED
        assert verify_card_signature(public, challenge, s.internal_authenticate(challenge))

    def test_locked_card_rules(self, target: Any) -> None:
        s, _ = self.session(target)
        personalise(s, target.master_key)
        s.write_file(FileId.ENDORSEMENTS, b"first")
        s.write_file(FileId.HOLDER_DATA, b"holder")
        s.lock()

        with pytest.raises(ConditionsNotSatisfied):
            s.write_file(FileId.RECORD, b"changed")
        with pytest.raises(ConditionsNotSatisfied):
            s.write_file(FileId.ENDORSEMENTS, b"overwrite", offset=0)
        assert s.issuer_channel_open  # a command error leaves the channel open
        s.append_file(FileId.ENDORSEMENTS, b"second")
        with pytest.raises(ConditionsNotSatisfied):
            s.set_pin("111111")
        with pytest.raises(ConditionsNotSatisfied):
            s.wipe()

        s.select()  # plain from here on
        assert not s.issuer_channel_open
        assert s.read_file(FileId.ENDORSEMENTS) == b"firstsecond"
        assert s.read_file(FileId.RECORD) == b"\xa1\x01\x02"
        with pytest.raises(SecurityStatusNotSatisfied):
            s.read_file(FileId.HOLDER_DATA)
        with pytest.raises(SecurityStatusNotSatisfied):
            s.write_file(FileId.ENDORSEMENTS, b"plain", offset=11)
        s.verify_pin(PIN)
        assert s.read_file(FileId.HOLDER_DATA) == b"holder"

        s.open_issuer_channel(keys_for(target.master_key))
        s.terminate()
        assert target.card.life_cycle is LifeCycle.TERMINATED
        s.select()
        assert s.read_card_info().life_cycle is LifeCycle.TERMINATED
        # the record is erased (its FCP says size 0); reading its bytes is refused
        assert s.read_file(FileId.RECORD) == b""
        with pytest.raises(ConditionsNotSatisfied):
            s.protocol.send(CommandApdu(0x00, 0xB0, 0x82, 0x00, ne=256))
        with pytest.raises(ConditionsNotSatisfied):
            s.verify_pin(PIN)

    def test_pin_retry_block_unblock(self, target: Any) -> None:
        s, _ = self.session(target)
        personalise(s, target.master_key)
        s.lock()
        s.select()
        status = s.pin_status()
        assert status.is_set and not status.verified and status.tries_left == 3
        for left in (2, 1, 0):
            with pytest.raises(WrongPin) as info:
                s.verify_pin("000000")
            assert info.value.tries_left == left
        with pytest.raises(PinBlocked):
            s.verify_pin(PIN)
        assert s.pin_status().blocked
        with pytest.raises(WrongPuk) as puk_info:
            s.unblock_pin("00000000")
        assert puk_info.value.tries_left == 9
        s.unblock_pin(PUK, "13572468")
        assert s.pin_status().tries_left == 3  # unblocking does not verify
        s.verify_pin("13572468")
        assert s.pin_status().verified
        s.change_pin("13572468", "246810")
        s.select()
        with pytest.raises(WrongPin):
            s.verify_pin("13572468")
        s.verify_pin("246810")
        s.unblock_pin(PUK)  # keeps the PIN
        s.select()
        s.verify_pin("246810")

    def test_wrong_master_key_changes_nothing(self, target: Any) -> None:
        s, conn = self.session(target)
        before = (s.select(), s.read_card_info())
        with pytest.raises(SecureChannelError, match="cryptogram") as info:
            s.open_issuer_channel(keys_for(os.urandom(16)))
        assert target.master_key.hex() not in str(info.value)
        assert not s.issuer_channel_open
        assert conn.sent[-1][1] == 0x50  # no EXTERNAL AUTHENTICATE was sent
        with pytest.raises(SecureChannelError):
            s.begin_personalisation()
        assert target.card.life_cycle is LifeCycle.BLANK
        assert (s.select(), s.read_card_info()) == before
        s.open_issuer_channel(keys_for(target.master_key))  # the right key still works
        s.begin_personalisation()

    def test_wipe_and_select_closes_channel(self, target: Any) -> None:
        s, _ = self.session(target)
        personalise(s, target.master_key)
        s.wipe()
        info = s.read_card_info()
        assert info.life_cycle is LifeCycle.BLANK and info.flags == 0
        s.select()
        assert not s.issuer_channel_open
        with pytest.raises(SecureChannelError):
            s.set_pin(PIN)
        personalise(s, target.master_key, record=b"\xa0")
        s.lock()
        assert target.card.life_cycle is LifeCycle.ISSUED


class TestThroughReaderDrivers(Flows):
    @pytest.fixture
    def target(self, card_env: Any) -> Any:
        return card_env


class TestDirectToSimulator(Flows):
    @pytest.fixture
    def target(self, direct_card: Any) -> Any:
        return direct_card


def test_two_sessions_on_one_reader_do_not_interleave(card_env: Any) -> None:
    """A personalisation held in one transaction, a reader polling CardInfo in another thread.

    Without the transaction the poller's SELECT would close the issuer channel and
    discard a pending command chain in the middle of the personalisation.
    """
    import threading

    issuer_conn = Recorder(card_env.connect(), extended=False)  # forces chains
    issuer = PermitCardSession(issuer_conn)
    poller = PermitCardSession(card_env.connect())
    stop = threading.Event()
    seen: list[LifeCycle] = []
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            while not stop.is_set():
                poller.select()
                seen.append(poller.read_card_info().life_cycle)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=poll)
    thread.start()
    try:
        with issuer_conn.transaction():
            personalise(issuer, card_env.master_key, record=os.urandom(3000))
            issuer.lock()
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    assert card_env.card.life_cycle is LifeCycle.ISSUED
    assert set(seen) <= {LifeCycle.BLANK, LifeCycle.ISSUED}  # never a half-personalised view
