"""The permit application: command dispatch, secure messaging, command and response
chaining (docs/card-application.md sections 3, 5, 6).

Status words are checked in the order of section 5: APDU format, CLA/INS,
secure-messaging unwrap, P1/P2, data length, access condition, life-cycle state,
data content.  The first four stages live here; the handlers do the rest.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from card_service.card import wire
from card_service.card.wire import ISSUER_AUTH_MAX_TRIES, SW, Cla, Ins, LifeCycle

from . import cardkey, files, lifecycle, pin
from .apdu import CommandApdu, MalformedApdu, parse_apdu
from .context import Command, PendingChain, PendingResponse, Response, Session, Volatile
from .image import CardStore, CommitFailed, TornCommit
from .scp03 import (
    CHALLENGE_LENGTH,
    MAC_LENGTH,
    Handshake,
    HostCryptogramMismatch,
    SecureChannel,
    StaticKeys,
    external_authenticate,
    open_handshake,
)
from .status import CardStatus, fail, sw_bytes, tries_left

__all__ = ["PermitApplet"]

logger = logging.getLogger(__name__)

Handler = Callable[[Session, Command], Response]

_ISO_CLASSES = (Cla.ISO, Cla.ISO_SM)
_ISO_INS = frozenset(
    {
        Ins.SELECT,
        Ins.READ_BINARY,
        Ins.UPDATE_BINARY,
        Ins.GET_CHALLENGE,
        Ins.VERIFY,
        Ins.CHANGE_REFERENCE_DATA,
        Ins.RESET_RETRY_COUNTER,
        Ins.INTERNAL_AUTHENTICATE,
        Ins.GENERATE_ASYMMETRIC_KEY_PAIR,
        Ins.GET_RESPONSE,
    }
)
#: INS defined per class byte (without the chaining bit).  GET RESPONSE is never wrapped.
_INS_BY_CLASS: dict[int, frozenset[int]] = {
    Cla.ISO: _ISO_INS,
    Cla.ISO_SM: _ISO_INS - {Ins.GET_RESPONSE},
    Cla.PROPRIETARY: frozenset({Ins.INITIALIZE_UPDATE}),
    Cla.PROPRIETARY_SM: frozenset({Ins.EXTERNAL_AUTHENTICATE, Ins.SET_STATUS}),
}
_GET_CHALLENGE_P1P2 = (0x00, 0x00)


@dataclass(frozen=True)
class _Outcome:
    data: bytes = field(repr=False)
    sw: int


def _get_challenge(s: Session, cmd: Command) -> Response:
    if (cmd.p1, cmd.p2) != _GET_CHALLENGE_P1P2:
        fail(SW.INCORRECT_P1P2)
    if cmd.data or cmd.ne is None or cmd.ne > wire.GET_CHALLENGE_MAX or cmd.apdu.le_is_max:
        fail(SW.WRONG_LENGTH)
    return Response(secrets.token_bytes(cmd.ne))


_HANDLERS: dict[int, Handler] = {
    Ins.SELECT: files.select,
    Ins.READ_BINARY: files.read_binary,
    Ins.UPDATE_BINARY: files.update_binary,
    Ins.GET_CHALLENGE: _get_challenge,
    Ins.VERIFY: pin.verify,
    Ins.CHANGE_REFERENCE_DATA: pin.change_reference_data,
    Ins.RESET_RETRY_COUNTER: pin.reset_retry_counter,
    Ins.GENERATE_ASYMMETRIC_KEY_PAIR: cardkey.generate_key_pair,
    Ins.INTERNAL_AUTHENTICATE: cardkey.internal_authenticate,
    Ins.SET_STATUS: lifecycle.set_status,
}


class PermitApplet:
    """Processes one APDU at a time against a :class:`CardStore`."""

    def __init__(self, store: CardStore) -> None:
        self.store = store
        self.volatile = Volatile()
        self.session = Session(store, self.volatile)

    def reset(self) -> None:
        """Reset or power loss: all volatile state goes."""
        self.volatile.deselect()

    def process(self, raw: bytes) -> bytes:
        """One command APDU in, the full response (data || SW1 SW2) out.

        Never raises, except :class:`TornCommit` (fault injection).  An unexpected
        internal error gives ``6F00``; persistent state is unchanged by it because
        every commit is atomic.
        """
        try:
            apdu = parse_apdu(raw)
        except MalformedApdu:
            return sw_bytes(SW.WRONG_LENGTH)  # and nothing else happens
        try:
            out = self._process(apdu)
        except TornCommit:
            raise
        except CommitFailed:
            out = _Outcome(b"", SW.MEMORY_FAILURE)
        except Exception:
            logger.exception("internal error processing INS %02X", apdu.ins)
            out = _Outcome(b"", SW.NO_PRECISE_DIAGNOSIS)
        logger.debug("INS %02X -> SW %04X (%d data bytes)", apdu.ins, out.sw, len(out.data))
        return out.data + sw_bytes(out.sw)

    # ---- pipeline ----

    def _process(self, apdu: CommandApdu) -> _Outcome:
        v = self.volatile
        if apdu.cla == Cla.ISO and apdu.ins == Ins.GET_RESPONSE:
            v.chain = None
            return self._get_response(apdu)
        v.pending = None  # any other command discards a pending response
        handshake, v.handshake = v.handshake, None  # EXTERNAL AUTHENTICATE must follow directly

        chained = bool(apdu.cla & Cla.CHAIN) and (apdu.cla & ~Cla.CHAIN) in _ISO_CLASSES
        base_cla = apdu.cla & ~Cla.CHAIN if chained else apdu.cla
        if base_cla not in _INS_BY_CLASS:
            v.chain = None
            return _Outcome(b"", SW.CLA_NOT_SUPPORTED)
        wrapped = bool(base_cla & Cla.ISO_SM)
        if not wrapped and v.channel is not None:
            logger.info("plain command while the issuer channel is open: channel closed")
            v.channel = None
        refused = None
        if apdu.ins not in _INS_BY_CLASS[base_cla]:
            refused = SW.INS_NOT_SUPPORTED
        elif chained and apdu.ins != Ins.UPDATE_BINARY:
            refused = SW.COMMAND_CHAINING_NOT_SUPPORTED
        if refused is not None:
            v.chain = None
            if wrapped:
                # never unwrapped, so the MAC chain cannot continue: close deterministically
                v.channel = None
            return _Outcome(b"", refused)

        if apdu.ins == Ins.EXTERNAL_AUTHENTICATE:
            v.chain = None
            return self._external_authenticate(apdu, handshake)
        if apdu.ins == Ins.INITIALIZE_UPDATE:
            v.chain = None
            v.channel = None  # any open channel is closed first
            return self._initialize_update(apdu)

        channel: SecureChannel | None = None
        data = apdu.data
        if wrapped:
            channel = v.channel
            if channel is None:
                v.chain = None
                return _Outcome(b"", SW.SECURITY_STATUS_NOT_SATISFIED)
            try:
                data = channel.unwrap(apdu)
            except CardStatus as exc:
                logger.info("secure messaging error %04X: issuer channel closed", exc.sw)
                v.channel = None
                v.chain = None
                return _Outcome(b"", exc.sw)
        cmd = Command(apdu, data, wrapped)
        try:
            response = self._dispatch(cmd)
        except CardStatus as exc:
            response = Response(sw=exc.sw)
        except CommitFailed:
            response = Response(sw=SW.MEMORY_FAILURE)
        except TornCommit:
            raise
        except Exception:
            # a bug: answer 6F00 (state unchanged, commits are atomic) and keep the channel in step
            logger.exception("internal error processing INS %02X", apdu.ins)
            response = Response(sw=SW.NO_PRECISE_DIAGNOSIS)
        return self._respond(cmd, response, channel)

    def _dispatch(self, cmd: Command) -> Response:
        v = self.volatile
        apdu = cmd.apdu
        chain = v.chain
        if chain is not None:
            same = (chain.ins, chain.p1, chain.p2, chain.wrapped) == (
                apdu.ins,
                apdu.p1,
                apdu.p2,
                cmd.wrapped,
            )
            if apdu.ins == Ins.UPDATE_BINARY and not same:
                v.chain = None
                fail(SW.LAST_COMMAND_OF_CHAIN_EXPECTED)
            if apdu.ins != Ins.UPDATE_BINARY:
                v.chain = None  # any other command discards the chain
                chain = None
        if apdu.cla & Cla.CHAIN:
            if chain is None:
                chain = PendingChain(apdu.ins, apdu.p1, apdu.p2, cmd.wrapped, bytearray())
            if len(chain.data) + len(cmd.data) > wire.MAX_COMMAND_DATA:
                v.chain = None
                fail(SW.WRONG_LENGTH)
            chain.data += cmd.data
            v.chain = chain
            return Response()  # intermediate: 9000, nothing changes
        if chain is not None:  # last command of a chain: the whole data at once
            v.chain = None
            total = bytes(chain.data) + cmd.data
            if len(total) > wire.MAX_COMMAND_DATA:
                fail(SW.WRONG_LENGTH)
            cmd = Command(apdu, total, cmd.wrapped)
        handler = _HANDLERS[apdu.ins]
        return handler(self.session, cmd)

    def _respond(self, cmd: Command, response: Response, channel: SecureChannel | None) -> _Outcome:
        data, sw = response.data, response.sw
        if channel is not None:
            if self.volatile.channel is channel:
                data = channel.wrap_response(data, sw)
            channel.advance()  # the counter counts every wrapped command
        elif not (sw == SW.OK or sw >> 8 in (0x62, 0x63)):
            data = b""
        return self._limit(cmd.apdu, data, sw)

    def _get_response(self, apdu: CommandApdu) -> _Outcome:
        v = self.volatile
        if (apdu.p1, apdu.p2) != (0x00, 0x00):
            return _Outcome(b"", SW.INCORRECT_P1P2)
        if apdu.data or apdu.ne is None:
            return _Outcome(b"", SW.WRONG_LENGTH)
        pending = v.pending
        if pending is None:
            return _Outcome(b"", SW.CONDITIONS_OF_USE_NOT_SATISFIED)
        part, rest = pending.data[: apdu.ne], pending.data[apdu.ne :]
        if rest:
            v.pending = PendingResponse(rest, pending.sw)
            return _Outcome(part, _more(len(rest)))
        v.pending = None
        return _Outcome(part, pending.sw)

    # ---- issuer channel handshake ----

    def _initialize_update(self, apdu: CommandApdu) -> _Outcome:
        state = self.store.state
        if apdu.p1 not in (0x00, state.kvn):
            return _Outcome(b"", SW.REFERENCED_DATA_NOT_FOUND)
        if apdu.p2 != 0x00:
            return _Outcome(b"", SW.INCORRECT_P1P2)
        if len(apdu.data) != CHALLENGE_LENGTH:
            return _Outcome(b"", SW.WRONG_LENGTH)
        if state.life_cycle == LifeCycle.TERMINATED:
            return _Outcome(b"", SW.CONDITIONS_OF_USE_NOT_SATISFIED)
        if state.issuer_auth_tries == 0:
            # blocked for good (6.8): no session keys, no cryptogram, no use of the static keys
            return _Outcome(b"", SW.AUTH_METHOD_BLOCKED)
        card_challenge = secrets.token_bytes(CHALLENGE_LENGTH)
        static = StaticKeys(state.k_enc, state.k_mac, state.k_dek)
        hs = open_handshake(static, apdu.data, card_challenge)
        self.volatile.handshake = hs
        body = (
            wire.DIVERSIFICATION_METHOD
            + state.serial
            + bytes((state.kvn, wire.SCP_ID, wire.SCP_I_PARAMETER))
            + card_challenge
            + hs.card_cryptogram
        )
        return self._limit(apdu, body, SW.OK)

    def _external_authenticate(self, apdu: CommandApdu, handshake: Handshake | None) -> _Outcome:
        if apdu.p1 != wire.REQUIRED_SECURITY_LEVEL or apdu.p2 != 0x00:
            return _Outcome(b"", SW.INCORRECT_P1P2)
        if len(apdu.data) != 2 * MAC_LENGTH:
            return _Outcome(b"", SW.WRONG_LENGTH)
        if handshake is None:
            return _Outcome(b"", SW.CONDITIONS_OF_USE_NOT_SATISFIED)
        state = self.store.state
        if state.issuer_auth_tries == 0:  # INITIALIZE UPDATE refuses first; defence in depth
            return _Outcome(b"", SW.AUTH_METHOD_BLOCKED)
        # Section 6.8, as the PIN (section 9): the try is consumed in a first transaction
        # BEFORE anything is compared, so a power cut at any later point cannot give a free
        # attempt; only an opened channel gives it back, in a second transaction.  A failed
        # first commit (6581) means nothing was compared.
        self.store.commit(replace(state, issuer_auth_tries=state.issuer_auth_tries - 1))
        try:
            channel = external_authenticate(handshake, apdu)
        except HostCryptogramMismatch:
            left = self.store.state.issuer_auth_tries
            logger.info("EXTERNAL AUTHENTICATE: wrong host cryptogram, %d tries left", left)
            return _Outcome(b"", tries_left(left))
        except CardStatus as exc:  # wrong C-MAC: the try stays consumed
            logger.info("EXTERNAL AUTHENTICATE failed (%04X)", exc.sw)
            return _Outcome(b"", exc.sw)
        self.store.commit(replace(self.store.state, issuer_auth_tries=ISSUER_AUTH_MAX_TRIES))
        self.volatile.channel = channel  # only once the allowance is restored durably
        logger.info("issuer channel open")
        return _Outcome(b"", SW.OK)

    def _limit(self, apdu: CommandApdu, data: bytes, sw: int) -> _Outcome:
        limit = apdu.response_limit
        if len(data) > limit:
            self.volatile.pending = PendingResponse(data[limit:], sw)
            return _Outcome(data[:limit], _more(len(data) - limit))
        return _Outcome(data, sw)


def _more(remaining: int) -> int:
    """``61xx``: xx bytes remain (``00`` for 256 or more)."""
    return SW.BYTES_REMAINING_00 | (remaining if remaining < 0x100 else 0)
