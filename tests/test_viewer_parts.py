"""Parts of the study viewer without a server: the ZIP written in constant
memory, safe archive paths, values written for people, access logs without
link tokens."""

from __future__ import annotations

import hashlib
import io
import logging
import tracemalloc
import zipfile

import pytest

from hvgen_server.app import RedactTokens
from hvgen_server.viewer import present
from hvgen_server.viewer.archive import Entry, safe_part, unique_paths, zip_stream


def test_the_zip_is_written_in_constant_memory() -> None:
    piece = 1024 * 1024

    def source(n: int, fill: int):
        return lambda: (bytes([fill]) * piece for _ in range(n))

    entries = [Entry(f"s/{i}.dcm", 32 * piece, source(32, i)) for i in range(3)]
    tracemalloc.start()
    try:
        digest, total = hashlib.sha256(), 0
        for part in zip_stream(entries):
            digest.update(part)
            total += len(part)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total > 96 * piece
    assert peak < 6 * piece, f"peak {peak} bytes while writing {total}"
    small = zipfile.ZipFile(
        io.BytesIO(b"".join(zip_stream([Entry("a/b.dcm", 5, lambda: [b"he", b"llo"]), Entry("c.dcm", 0, lambda: [])])))
    )
    assert small.testzip() is None and small.read("a/b.dcm") == b"hello" and small.read("c.dcm") == b""
    with pytest.raises(ValueError, match="expected 6"):
        b"".join(zip_stream([Entry("short", 6, lambda: [b"12345"])]))


def test_archive_paths_are_safe_and_unique() -> None:
    assert safe_part("1.2.840.10008", "x") == "1.2.840.10008"
    assert safe_part("../../etc/passwd", "x") == "etc_passwd"
    assert safe_part("..", "fallback") == "fallback" and safe_part("", "fallback") == "fallback"
    assert unique_paths(["a/x.dcm", "a/x.dcm", "b/x.dcm", "a/x.dcm"]) == [
        "a/x.dcm",
        "a/x-2.dcm",
        "b/x.dcm",
        "a/x-3.dcm",
    ]


def test_values_are_written_for_people() -> None:
    import datetime as dt

    assert present.when(dt.date(2024, 5, 7)) == "7 May 2024"
    assert present.when(dt.datetime(2024, 12, 31, 9, 5, 59)) == "31 December 2024, 09:05"
    # the command line's units (powers of 1024), not powers of 1000
    assert [present.size(n) for n in (1, 1023, 1024, 55_123, 123_456_789, 5 * 2**40)] == [
        "1 byte", "1023 bytes", "1.0 KiB", "53.8 KiB", "117.7 MiB", "5.0 TiB"]  # fmt: skip
    assert present.plural(1, "image") == "1 image" and present.plural(1204, "study", "studies") == "1,204 studies"
    assert present.modality("ct") == "Computed tomography" and present.modality("XYZ") == ""


def test_access_logs_show_no_link_tokens() -> None:
    line = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, "%s %s", ("GET", "/viewer/open?link=SECRET&record=r"), None
    )
    RedactTokens().filter(line)
    assert "SECRET" not in line.getMessage() and "link=...&record=r" in line.getMessage()
