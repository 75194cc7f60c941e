"""Data of the blob tests: file things, patterned bytes, and the chunk size of
the ``small_chunks`` server (tests/conftest.py)."""

from __future__ import annotations

import hashlib

from healthvault.bindings.thing import DataXml, Thing2, ThingType
from healthvault.bindings.things.file import File

MIB = 1024 * 1024
CHUNK = 2 * MIB  # the small_chunks server announces 2 MiB chunks


def file_thing(name: str = "f.bin", size: int = 1) -> Thing2:
    return Thing2(
        type_id=ThingType(value=str(File.TYPE_ID)), data_xml=[DataXml(any_element=File(name=name, size=max(size, 1)))]
    )


def pattern(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * (MIB // 32)
    out = (block * (size // len(block) + 1))[:size]
    return bytes(out)
