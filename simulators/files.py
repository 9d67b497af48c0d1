"""File system commands: SELECT, READ BINARY, UPDATE BINARY (sections 2, 5.1-5.3)."""

from __future__ import annotations

from card_service.card import wire
from card_service.card.wire import SW, AccessCondition, CardFlag, FileId, LifeCycle

from .context import Command, Response, Session
from .image import CardState
from .status import fail

__all__ = ["card_info", "read_binary", "select", "update_binary"]

_SFI_TO_FID = {sfi: fid for fid, sfi in wire.SFI.items()}
_AID_MAX = 16

#: Read access conditions in the FCP.  HolderData may be read with the PIN *or* the
#: issuer channel: both bits are set (a byte with several bits means any one suffices).
READ_AC = {
    FileId.CARD_INFO: AccessCondition.ALWAYS,
    FileId.RECORD: AccessCondition.ALWAYS,
    FileId.ENDORSEMENTS: AccessCondition.ALWAYS,
    FileId.CARD_KEY: AccessCondition.ALWAYS,
    FileId.HOLDER_DATA: AccessCondition.PIN | AccessCondition.ISSUER_SM,
}
WRITE_AC = {
    FileId.CARD_INFO: AccessCondition.NEVER,
    FileId.RECORD: AccessCondition.ISSUER_SM,
    FileId.ENDORSEMENTS: AccessCondition.ISSUER_SM,
    FileId.CARD_KEY: AccessCondition.NEVER,
    FileId.HOLDER_DATA: AccessCondition.ISSUER_SM,
}


def _tlv(tag: int, value: bytes) -> bytes:
    """BER-TLV with a one- or two-byte tag and a short or 81/82 length."""
    t = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    elif n <= 0xFF:
        length = bytes((0x81, n))
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return t + length + value


def card_flags(state: CardState) -> int:
    flags = 0
    if state.card_key is not None:
        flags |= CardFlag.CARD_KEY_PRESENT
    if state.pin is not None:
        flags |= CardFlag.PIN_SET
    if state.puk is not None:
        flags |= CardFlag.PUK_SET
    return flags


def card_info(state: CardState) -> bytes:
    """EF.CardInfo, computed at every read."""
    return _tlv(
        wire.TAG_CARD_INFO,
        _tlv(wire.TAG_SERIAL, state.serial)
        + _tlv(wire.TAG_LCS, bytes((state.life_cycle,)))
        + _tlv(wire.TAG_APP_VERSION, bytes(wire.APP_VERSION))
        + _tlv(wire.TAG_KVN, bytes((state.kvn,)))
        + _tlv(wire.TAG_FLAGS, bytes((card_flags(state),)))
        + _tlv(wire.TAG_ISSUER_AUTH_TRIES, bytes((state.issuer_auth_tries,))),
    )


def file_content(state: CardState, fid: FileId) -> bytes:
    if fid == FileId.CARD_INFO:
        return card_info(state)
    return state.file(fid)


def _fci(state: CardState) -> bytes:
    return _tlv(
        wire.TAG_FCI,
        _tlv(wire.TAG_DF_NAME, wire.AID)
        + _tlv(
            wire.TAG_FCI_PROPRIETARY,
            _tlv(wire.TAG_APP_VERSION, bytes(wire.APP_VERSION))
            + _tlv(wire.TAG_LCS, bytes((state.life_cycle,)))
            + _tlv(wire.TAG_SERIAL, state.serial),
        ),
    )


def _fcp(state: CardState, fid: FileId) -> bytes:
    return _tlv(
        wire.TAG_FCP,
        _tlv(wire.TAG_FILE_SIZE, len(file_content(state, fid)).to_bytes(2, "big"))
        + _tlv(wire.TAG_FILE_DESCRIPTOR, b"\x01")
        + _tlv(wire.TAG_FILE_ID, int(fid).to_bytes(2, "big"))
        + _tlv(wire.TAG_LCS, bytes((state.life_cycle,)))
        + _tlv(wire.TAG_MAX_SIZE, wire.FILE_MAX_SIZE[fid].to_bytes(2, "big"))
        + _tlv(wire.TAG_READ_AC, bytes((READ_AC[fid],)))
        + _tlv(wire.TAG_WRITE_AC, bytes((WRITE_AC[fid],))),
    )


def select(s: Session, cmd: Command) -> Response:
    p1, p2, data = cmd.p1, cmd.p2, cmd.data
    v = s.volatile
    if p1 == 0x04 and p2 in (0x00, 0x0C):
        v.channel = None  # SELECT by AID always closes the issuer channel
        if not 1 <= len(data) <= _AID_MAX:
            fail(SW.WRONG_LENGTH)
        if data != wire.AID:
            fail(SW.FILE_NOT_FOUND)
        v.deselect()
        v.app_selected = True
        return Response(_fci(s.state) if p2 == 0x00 else b"")
    if p1 in (0x00, 0x02) and p2 in (0x04, 0x0C):
        if len(data) != 2:
            fail(SW.WRONG_LENGTH)
        fid_value = int.from_bytes(data, "big")
        if fid_value == wire.MF_FID and p1 == 0x00:
            v.deselect()  # the MF: the application is deselected
            return Response()
        if not v.app_selected or fid_value not in FileId._value2member_map_:
            fail(SW.FILE_NOT_FOUND)
        fid = FileId(fid_value)
        v.current_ef = fid
        return Response(_fcp(s.state, fid) if p2 == 0x04 else b"")
    fail(SW.INCORRECT_P1P2)


def _resolve(s: Session, cmd: Command) -> tuple[FileId, int]:
    """The EF and offset of READ/UPDATE BINARY from P1/P2; P1/P2 syntax already checked."""
    v = s.volatile
    if cmd.p1 & 0x80:
        fid = _SFI_TO_FID.get(cmd.p1 & 0x1F)
        if fid is None or not v.app_selected:
            fail(SW.FILE_NOT_FOUND)
        v.current_ef = fid
        return fid, cmd.p2
    if v.current_ef is None:
        fail(SW.COMMAND_NOT_ALLOWED_NO_EF)
    return v.current_ef, (cmd.p1 & 0x7F) << 8 | cmd.p2


def _check_p1(cmd: Command) -> None:
    if cmd.p1 & 0x80 and cmd.p1 & 0x60:  # SFI encoding: bits 7-6 must be 0
        fail(SW.INCORRECT_P1P2)


def read_binary(s: Session, cmd: Command) -> Response:
    _check_p1(cmd)
    if cmd.ne is None or cmd.data:
        fail(SW.WRONG_LENGTH)
    fid, offset = _resolve(s, cmd)
    lcs = s.life_cycle
    if fid != FileId.CARD_INFO:
        if READ_AC[fid] != AccessCondition.ALWAYS and not (s.volatile.pin_verified or cmd.wrapped):
            fail(SW.SECURITY_STATUS_NOT_SATISFIED)
        if lcs not in (LifeCycle.PERSONALISING, LifeCycle.ISSUED):
            fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
    content = file_content(s.state, fid)
    if offset > len(content):
        fail(SW.WRONG_P1P2)
    out = content[offset : offset + cmd.ne]
    short = len(out) < cmd.ne and not cmd.apdu.le_is_max
    return Response(out, SW.END_OF_FILE if short else SW.OK)


def prepare_update(s: Session, cmd: Command) -> tuple[FileId, int]:
    """Every check of UPDATE BINARY before the data is known to be complete."""
    _check_p1(cmd)
    fid, offset = _resolve(s, cmd)
    if WRITE_AC[fid] != AccessCondition.ISSUER_SM or not cmd.wrapped:
        fail(SW.SECURITY_STATUS_NOT_SATISFIED)
    lcs = s.life_cycle
    content = s.state.file(fid)
    allowed = lcs == LifeCycle.PERSONALISING or (
        lcs == LifeCycle.ISSUED and fid == FileId.ENDORSEMENTS and offset == len(content)
    )
    if not allowed:
        fail(SW.CONDITIONS_OF_USE_NOT_SATISFIED)
    if offset > len(content):
        fail(SW.WRONG_P1P2)
    return fid, offset


def update_binary(s: Session, cmd: Command) -> Response:
    """The whole write (one APDU, or the last of a chain with all the data) as one commit."""
    _check_p1(cmd)
    if not cmd.data:
        fail(SW.WRONG_LENGTH)
    fid, offset = prepare_update(s, cmd)
    content = s.state.file(fid)
    end = offset + len(cmd.data)
    if end > wire.FILE_MAX_SIZE[fid]:
        fail(SW.NOT_ENOUGH_MEMORY)
    new_content = content[:offset] + cmd.data + content[end:]
    s.commit(s.state.with_file(fid, new_content))
    return Response()
