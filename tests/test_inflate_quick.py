"""Whether a file is deflated is told from its file meta information's bytes
when they surely do not name the deflated transfer syntax
(:func:`hvgen_imaging.inflate.is_deflated`), and by parsing them otherwise:
the answer is the parse's for every file of pydicom's test data and for
file meta information whose group length does not tell the truth."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from pydicom.data import get_testdata_files
from pydicom.uid import DeflatedExplicitVRLittleEndian

from hvgen_imaging import inflate

from .dicomgen import make_study, pydicom_file


def parsed(data: bytes) -> bool | str:
    """The answer of parsing the file meta information (the way it was always told), or what it raised."""
    try:
        found = inflate.file_meta(io.BytesIO(data))
    except Exception as exc:
        return type(exc).__name__
    if found is None:
        return False
    try:
        return str(found[0].get("TransferSyntaxUID", "")).strip() == DeflatedExplicitVRLittleEndian
    except Exception:
        return False


def quick(data: bytes) -> bool | str:
    """:func:`inflate.is_deflated`'s answer, or what it raised."""
    try:
        return inflate.is_deflated(io.BytesIO(data))
    except Exception as exc:
        return type(exc).__name__


def test_the_quick_answer_is_the_parse_for_every_test_file() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        files = [Path(p) for p in get_testdata_files("*") if Path(p).is_file()]
        deflated = 0
        for path in files:
            data = path.read_bytes()[: 1 << 20]
            assert quick(data) == parsed(data), path.name
            deflated += parsed(data) is True
    assert deflated >= 1  # (image_dfl.dcm at least)


def test_a_deflated_file_whose_group_length_is_short_is_still_deflated() -> None:
    data = bytearray(pydicom_file("image_dfl.dcm").read_bytes())
    assert data[132:138] == b"\x02\x00\x00\x00UL"
    data[140:144] = (4).to_bytes(4, "little")  # the group length says the meta information ends after 4 bytes
    assert parsed(bytes(data)) is True
    assert quick(bytes(data)) is True


@given(st.integers(min_value=0, max_value=400), st.binary(max_size=8))
def test_any_group_length_gives_the_parse(length: int, tail: bytes) -> None:
    """Any group length (true, short, long, past the file's end) gives the parse's answer."""
    for name in ("image_dfl.dcm", "CT_small.dcm"):
        data = bytearray(pydicom_file(name).read_bytes()[:4096])
        data[140:144] = length.to_bytes(4, "little")
        whole = bytes(data) + tail
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert quick(whole) == parsed(whole)
        cut = whole[: 144 + length // 2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert quick(cut) == parsed(cut)


def test_generated_files_are_not_deflated(tmp_path: Path) -> None:
    make_study(tmp_path / "s", series=1, images=2, size=16, seed=3)
    for path in sorted((tmp_path / "s").rglob("*.dcm")):
        with open(path, "rb") as f:
            assert not inflate.is_deflated(f)
