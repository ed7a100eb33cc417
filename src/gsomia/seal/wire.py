"""The binary encoding shared by the seal formats (docs/formats.md, "Sealed items").

``u8``/``u16``/``u32`` are big-endian unsigned integers; ``vec`` is a ``u32`` length followed by
that many bytes; ``list`` is a ``u16`` count followed by that many ``vec``. Decoding is strict:
every length must fit, and nothing may follow the last field.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from gsomia.errors import BadInput

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
MAX_LIST = 0xFFFF
_LEN32 = _U32.pack(32)


def u8(value: int) -> bytes:
    return bytes((value,))


def u16(value: int) -> bytes:
    return _U16.pack(value)


def u32(value: int) -> bytes:
    return _U32.pack(value)


def vec(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


def vec_list(items: Sequence[bytes]) -> bytes:
    if len(items) > MAX_LIST:
        raise BadInput(f"too many entries in a list ({len(items)} > {MAX_LIST})")
    return _U16.pack(len(items)) + b"".join(_U32.pack(len(i)) + i for i in items)


class Reader:
    """Reads fields in order from ``data``; any shortfall or excess is ``BadInput``."""

    __slots__ = ("_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self._what = what

    def _fail(self, detail: str) -> BadInput:
        return BadInput(f"{self._what}: {detail} at byte {self._pos}")

    def fixed(self, n: int) -> bytes:
        pos = self._pos
        end = pos + n
        if end > len(self._data):
            raise self._fail("truncated")
        self._pos = end
        return self._data[pos:end]

    def u8(self) -> int:
        pos = self._pos
        if pos >= len(self._data):
            raise self._fail("truncated")
        self._pos = pos + 1
        return self._data[pos]

    def u16(self) -> int:
        pos = self._pos
        if pos + 2 > len(self._data):
            raise self._fail("truncated")
        self._pos = pos + 2
        value: int = _U16.unpack_from(self._data, pos)[0]
        return value

    def u32(self) -> int:
        pos = self._pos
        if pos + 4 > len(self._data):
            raise self._fail("truncated")
        self._pos = pos + 4
        value: int = _U32.unpack_from(self._data, pos)[0]
        return value

    def vec(self, length: int | None = None) -> bytes:
        data = self._data
        pos = self._pos
        if pos + 4 > len(data):
            raise self._fail("truncated")
        n: int = _U32.unpack_from(data, pos)[0]
        end = pos + 4 + n
        if end > len(data):
            raise self._fail("truncated")
        if length is not None and n != length:
            raise self._fail(f"expected {length} bytes, found a length of {n}")
        self._pos = end
        return data[pos + 4 : end]

    def vec_list(self) -> list[bytes]:
        return [self.vec() for _ in range(self.u16())]

    def hash_list(self) -> tuple[bytes, ...]:
        """A ``list`` whose every entry is a 32-byte ``vec`` (a Merkle path)."""
        count = self.u16()
        data = self._data
        pos = self._pos
        end = pos + count * 36
        if end > len(data):
            raise self._fail("truncated")
        out = []
        for at in range(pos, end, 36):
            if data[at : at + 4] != _LEN32:
                self._pos = at
                raise self._fail("expected a 32-byte hash")
            out.append(data[at + 4 : at + 36])
        self._pos = end
        return tuple(out)

    def ident(self, *, max_len: int) -> str:
        """A short identifier: 1 to ``max_len`` ASCII letters or digits."""
        raw = self.vec()
        if not (0 < len(raw) <= max_len and raw.isalnum() and raw.isascii()):
            raise self._fail("expected a short identifier of ASCII letters and digits")
        return raw.decode("ascii")

    def end(self) -> None:
        if self._pos != len(self._data):
            raise self._fail("unexpected trailing bytes")
