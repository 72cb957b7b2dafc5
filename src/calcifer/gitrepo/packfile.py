"""Writing objects into a repository as one pack (format version 2, index version 2), as git does.

Used to bring objects from a repository on this machine (``local_fetch``): a pack is two files, where the
same objects written loose would be one file each (slow to create by the hundred). An object whose
``base`` is written earlier in the same pack is stored as a delta against it (copy the common start and
end, insert the middle), which is what the successive versions of a growing folder need; chains are
kept short so that reading an object stays cheap. Every object is hashed as it is written and refused
if its content does not match its id, as ``git index-pack`` refuses a damaged pack.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TYPE_NAMES = {1: b"commit", 2: b"tree", 3: b"blob", 4: b"tag"}
OFS_DELTA = 6
MAX_DEPTH = 16       # the longest delta chain written (git's default is 50)
COPY_CHUNK = 0x10000  # bytes one copy instruction covers
LARGEST_OFFSET = 0x7FFFFFFF  # beyond it an index needs a 64-bit table: not written here


class PackError(Exception):
    """The objects cannot be written as given (an id that does not match its content, a pack too large)."""


@dataclass(frozen=True)
class PackObject:
    oid: bytes            # the 20-byte id
    kind: int             # 1 commit, 2 tree, 3 blob, 4 tag
    data: bytes
    base: bytes | None = None  # an object written earlier in the same pack to store this one against
    shared: tuple[int, int] | None = None  # ``common_ends(base's data, data)`` when already known


def write_pack(folder: Path, objects: Iterable[PackObject]) -> Path:
    """Write ``objects`` as ``pack-<checksum>.pack`` and its ``.idx`` into ``folder`` (a repository's
    ``objects/pack``); the index is renamed into place last, so readers see the pack whole or not at all.
    Returns the index's path."""
    body = bytearray()
    entries: list[tuple[bytes, int, int]] = []  # (id, crc32, offset)
    placed: dict[bytes, tuple[int, int, bytes]] = {}  # id -> (offset, depth, data)
    count = 0
    body += b"PACK" + struct.pack(">II", 2, 0)
    for obj in objects:
        _verify(obj)
        offset = len(body)
        base = placed.get(obj.base) if obj.base is not None else None
        delta = _delta(base[2], obj.data, obj.shared) if base is not None and base[1] < MAX_DEPTH else None
        if delta is not None and base is not None:
            entry = _header(OFS_DELTA, len(delta)) + _ofs(offset - base[0]) + _deflate(delta)
            depth = base[1] + 1
        else:
            entry = _header(obj.kind, len(obj.data)) + _deflate(obj.data)
            depth = 0
        body += entry
        entries.append((obj.oid, zlib.crc32(entry), offset))
        placed[obj.oid] = (offset, depth, obj.data)
        count += 1
    if len(body) > LARGEST_OFFSET:
        raise PackError("the objects make a pack over 2 GiB")
    body[8:12] = struct.pack(">I", count)
    checksum = hashlib.sha1(body).digest()
    body += checksum
    name = f"pack-{checksum.hex()}"
    index = folder / f"{name}.idx"
    if index.exists():
        return index
    _place(folder, body, folder / f"{name}.pack")
    _place(folder, _index(entries, checksum), index)
    return index


def _deflate(data: bytes) -> bytes:
    # A window no larger than the data compresses it the same, and a small one is much cheaper to set up
    # (most objects here are a few hundred bytes); any reader inflates it with its usual window.
    return zlib.compress(data, 1, wbits=max(9, min(15, len(data).bit_length())))


def _verify(obj: PackObject) -> None:
    hashed = hashlib.sha1(b"%s %d\x00" % (TYPE_NAMES[obj.kind], len(obj.data)))
    hashed.update(obj.data)
    if hashed.digest() != obj.oid:
        raise PackError(f"object {obj.oid.hex()} does not match its content")


def _place(folder: Path, data: bytes | bytearray, path: Path) -> None:
    handle, temporary = tempfile.mkstemp(dir=folder, prefix="tmp_calcifer_")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o444)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _header(kind: int, size: int) -> bytes:
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def _ofs(distance: int) -> bytes:
    """How far back the base is, in the pack's own variable-length form (each continuation adds one)."""
    out = [distance & 0x7F]
    distance >>= 7
    while distance:
        distance -= 1
        out.append(0x80 | (distance & 0x7F))
        distance >>= 7
    return bytes(reversed(out))


def _varint(size: int) -> bytes:
    out = bytearray()
    while True:
        byte = size & 0x7F
        size >>= 7
        if size:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def common_ends(a: bytes, b: bytes) -> tuple[int, int]:
    """How many bytes ``a`` and ``b`` share at their start, and then at their end (not overlapping the
    start): a binary search of memory comparisons, so about twenty of them whatever the sizes."""
    view = memoryview(b)
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a.startswith(view[:middle]):
            low = middle
        else:
            high = middle - 1
    prefix = low
    low, high = 0, min(len(a), len(b)) - prefix
    while low < high:
        middle = (low + high + 1) // 2
        if a.endswith(view[len(b) - middle:]):
            low = middle
        else:
            high = middle - 1
    return prefix, low


def _delta(base: bytes, target: bytes, shared: tuple[int, int] | None) -> bytes | None:
    """A delta that rebuilds ``target`` from ``base`` by copying their common start and end; None when
    they share less than half of ``target``."""
    prefix, suffix = shared or common_ends(base, target)
    if (prefix + suffix) * 2 < len(target):
        return None
    out = bytearray(_varint(len(base)) + _varint(len(target)))
    _copy(out, 0, prefix)
    middle = target[prefix:len(target) - suffix]
    for start in range(0, len(middle), 0x7F):
        chunk = middle[start:start + 0x7F]
        out.append(len(chunk))
        out += chunk
    _copy(out, len(base) - suffix, suffix)
    return bytes(out)


def _copy(out: bytearray, offset: int, size: int) -> None:
    while size > 0:
        step = min(size, COPY_CHUNK)
        command = 0x80
        args = bytearray()
        for i in range(4):
            byte = (offset >> (8 * i)) & 0xFF
            if byte:
                command |= 1 << i
                args.append(byte)
        for i in range(3):
            byte = ((step if step != COPY_CHUNK else 0) >> (8 * i)) & 0xFF
            if byte:
                command |= 1 << (4 + i)
                args.append(byte)
        out.append(command)
        out += args
        offset += step
        size -= step


def _index(entries: list[tuple[bytes, int, int]], checksum: bytes) -> bytes:
    entries.sort()
    fanout = [0] * 256
    for oid, _, _ in entries:
        fanout[oid[0]] += 1
    total = 0
    for i, n in enumerate(fanout):
        total += n
        fanout[i] = total
    out = bytearray(b"\xfftOc" + struct.pack(">I", 2) + struct.pack(">256I", *fanout))
    out += b"".join(oid for oid, _, _ in entries)
    out += struct.pack(f">{len(entries)}I", *(crc for _, crc, _ in entries))
    out += struct.pack(f">{len(entries)}I", *(offset for _, _, offset in entries))
    out += checksum
    out += hashlib.sha1(out).digest()
    return bytes(out)
