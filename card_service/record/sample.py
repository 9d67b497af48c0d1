"""A synthetic applicant, for demos, tests and benchmarks (no real person's data).

The portrait is a real baseline JPEG (decodable by any viewer): a grey head-and-shoulders
silhouette drawn at 8x8-block resolution with pseudo-random texture, written by a tiny
encoder with its own Huffman tables, sized to about 10 KB like a typical card portrait.
"""

from __future__ import annotations

import datetime as dt
import random

from .citizen_id import check_character
from .data import PermitBasis, PermitData, Sex
from .schedule import add_years, local_date

__all__ = ["make_citizen_id", "synthetic_applicant", "synthetic_portrait"]


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def write(self, value: int, length: int) -> None:
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0x00)  # byte stuffing
                self.acc = self.n = 0

    def flush(self) -> bytes:
        if self.n:
            self.write((1 << (8 - self.n)) - 1, 8 - self.n)  # pad with 1 bits
        return bytes(self.out)


def _magnitude(value: int) -> tuple[int, int]:
    """JPEG (size, bits) of a coefficient difference."""
    size = abs(value).bit_length()
    bits = value if value >= 0 else value + (1 << size) - 1
    return size, bits


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def _jpeg(width: int, height: int, seed: int, ac_count: int) -> bytes:
    rng = random.Random(seed)
    bw, bh = width // 8, height // 8
    # DC table: symbols 0..11 with 4-bit codes; AC table: EOB and (run 0, size 1..6), 3 bits.
    dc_bits = [0, 0, 0, 12] + [0] * 12
    ac_symbols = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]
    ac_bits = [0, 0, 7] + [0] * 13
    dht = bytes([0x00, *dc_bits, *range(12)]) + bytes([0x10, *ac_bits, *ac_symbols])
    writer = _BitWriter()
    previous = 0
    for by in range(bh):
        for bx in range(bw):
            x, y = (bx + 0.5) / bw, (by + 0.5) / bh
            if ((x - 0.5) / 0.24) ** 2 + ((y - 0.4) / 0.25) ** 2 <= 1:
                level = 175 - int(60 * abs(x - 0.5))  # face, shaded to the sides
            elif y > 0.72 and abs(x - 0.5) < 0.45:
                level = 60  # shoulders
            else:
                level = 215  # background
            dc = (level - 128) + rng.randint(-2, 2)
            size, bits = _magnitude(dc - previous)
            previous = dc
            writer.write(size, 4)
            writer.write(bits, size)
            for k in range(1, ac_count + 1):
                span = max(1, 24 // k)
                value = rng.randint(1, span) * rng.choice((-1, 1))
                size, bits = _magnitude(value)
                writer.write(size, 3)  # code of (run 0, size) is the size itself
                writer.write(bits, size)
            if ac_count < 63:
                writer.write(0, 3)  # EOB
    scan = writer.flush()
    jfif = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = bytes([8]) + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    return (
        b"\xff\xd8"
        + _segment(0xE0, jfif)
        + _segment(0xDB, b"\x00" + bytes([8] * 64))
        + _segment(0xC0, sof)
        + _segment(0xC4, dht)
        + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + scan
        + b"\xff\xd9"
    )


def synthetic_portrait(seed: int = 0, target_bytes: int = 10_000) -> bytes:
    """A 160x200 grey JPEG of roughly ``target_bytes`` (at least that, within ~1 KB)."""
    for ac_count in range(1, 64):
        image = _jpeg(160, 200, seed, ac_count)
        if len(image) >= target_bytes:
            return image
    return image


def make_citizen_id(address_code: str, birth: dt.date, sequence: int) -> str:
    """A GB 11643-1999 number with a correct check character (``sequence`` 0-999)."""
    first17 = f"{address_code}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_character(first17)


def synthetic_applicant(
    now: dt.datetime,
    *,
    seed: int | None = None,
    card_serial: bytes | None = None,
    address_code: str = "110101",
    portrait_bytes: int = 10_000,
) -> PermitData:
    """A valid :class:`PermitData` issued today (local date of ``now``) for five years."""
    rng = random.Random(seed)
    issue = local_date(now)
    birth = dt.date(1970 + rng.randrange(30), 1 + rng.randrange(12), 1 + rng.randrange(28))
    sex = Sex.MALE if rng.random() < 0.5 else Sex.FEMALE
    sequence = rng.randrange(500) * 2 + (1 if sex is Sex.MALE else 0)
    began = issue - dt.timedelta(days=400 + rng.randrange(2000))
    return PermitData(
        full_name="样例申请人",
        sex=sex,
        ethnicity="汉族",
        birth_date=birth,
        citizen_id=make_citizen_id(address_code, birth, sequence),
        portrait=synthetic_portrait(rng.randrange(1 << 30), portrait_bytes),
        household_address="北京市东城区示例胡同1号",
        residence_address="上海市浦东新区示例路100弄2号301室",
        issuing_authority="上海市公安局浦东分局",
        issue_date=issue,
        permit_number=f"310115{rng.randrange(10**10):010d}",
        expiry_date=add_years(issue, 5),
        permit_basis=rng.choice(list(PermitBasis)),
        residence_began=max(began, birth),
        card_serial=card_serial if card_serial is not None else rng.randbytes(8),
    )
