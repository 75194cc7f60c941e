"""The tag view of an image: every element of the file's header (tag, VR,
keyword, value) as pydicom reads the same file, sequences as nested items,
private elements marked with their creator, the pixel data summed up and
not shown, hostile values escaped wherever they are; the elements listed are
capped."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from lxml import html as lxml_html
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset

from hvgen_imaging import dicom, study, workflow
from hvgen_server.viewer import tags as tag_view

from .dicomgen import make_study
from .localserver import RunningServer, hvgen, start_server
from .viewerdata import PASSWORD, sign_in

HOSTILE = {
    "patient": "<script id=evil>alert('name')</script>^X",
    "private": "<script id=evil>alert('private')</script>",
    "item": "<img src=x onerror=alert('item')>",
}


def _hostile(folder: Path) -> Path:
    make_study(folder, series=1, images=1, size=16, seed=9)
    (path,) = folder.rglob("*.dcm")
    ds = pydicom.dcmread(path)
    ds.PatientName = HOSTILE["patient"]
    ds.private_block(0x0011, "EVIL <b>CREATOR</b>", create=True).add_new(0x01, "LO", HOSTILE["private"])
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "X1", "99EVIL", HOSTILE["item"]
    ds.ProcedureCodeSequence = [item]
    ds.save_as(path)
    return path


def _upload(server: RunningServer, folder: Path) -> str:
    built = study.build(dicom.scan(folder).studies[0], previews=False)
    with server.client() as client:
        return workflow.Studies(client, journal_dir=folder.parent / "journal").upload(built).thing_id


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, dict[str, tuple[str, Path]]]]:
    base = tmp_path_factory.mktemp("viewer-tags")
    server = start_server(base / "server")
    try:
        hvgen(server, "person", "passwd", "local", "--password-stdin", stdin=PASSWORD + "\n")
        files: dict[str, tuple[str, Path]] = {}
        for name in ("CT_small.dcm", "JPEG2000.dcm"):
            found = get_testdata_file(name)
            assert found is not None
            (base / name).mkdir()
            path = Path(shutil.copy(found, base / name / name))
            files[name] = (_upload(server, base / name), path)
        path = _hostile(base / "hostile")
        files["hostile"] = (_upload(server, base / "hostile"), path)
        yield server, files
    finally:
        server.stop()


def _page(server: RunningServer, thing_id: str) -> str:
    with sign_in(server.url) as browser:
        page = browser.get(f"/viewer/{server.profile.record_id}/{thing_id}/series/1/tags", params={"image": "1"})
    assert page.status_code == 200, page.text
    return page.text


def _rows(tbody: Any) -> list[Any]:
    return [tr for tr in tbody if tr.tag == "tr"]


def _cells(tr: Any) -> tuple[str, str, str, str]:
    tds = [td for td in tr if td.tag == "td"]
    tag, vr = tds[0].text_content().strip(), tds[1].text_content().strip()
    if vr == "SQ":
        return tag, vr, tds[2].find("details/summary/span").text_content().strip(), ""
    return tag, vr, tds[2].text_content().strip(), tds[3].text_content().strip()


def _expected(element: Any) -> str:
    """How pydicom reads the value, as text."""
    value = element.value
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return "" if value is None else str(value)


def _compare(ds: Dataset, rows: list[Any]) -> int:
    """Every element of ``ds`` is a row of ``rows``, in order, with pydicom's value; how many compared."""
    elements = [e for e in ds if e.tag != 0x7FE00010]
    shown = [r for r in rows if "pixels" not in (r.get("class") or "")]
    assert [_cells(r)[0] for r in shown] == [f"({e.tag.group:04X},{e.tag.element:04X})" for e in elements]
    compared = 0
    for element, row in zip(elements, shown, strict=True):
        tag, vr, keyword, value = _cells(row)
        assert vr == element.VR, tag
        if element.keyword:
            assert keyword == element.keyword, tag
        if element.tag.is_private:
            assert "private" in (row.get("class") or ""), tag
        if element.VR == "SQ":
            items = row.findall("td/details/details")
            assert len(items) == len(element.value), tag
            for item_ds, item in zip(element.value, items, strict=True):
                compared += _compare(item_ds, _rows(item.find("table/tbody")))
        else:
            assert value.startswith(_expected(element)[: tag_view.MAX_TEXT]), (tag, value, _expected(element))
        compared += 1
    return compared


@pytest.mark.parametrize("name", ["CT_small.dcm", "JPEG2000.dcm", "hostile"])
def test_every_element_is_shown_as_pydicom_reads_it(uploaded: Any, name: str) -> None:
    server, files = uploaded
    thing_id, path = files[name]
    text = _page(server, thing_id)
    doc = lxml_html.fromstring(text)
    (tbody,) = doc.xpath('//table[@id="tags"]/tbody')
    ds = pydicom.dcmread(path, stop_before_pixels=True)  # what follows the pixel data is not read
    rows = _rows(tbody)
    meta = len(ds.file_meta)
    assert [_cells(r)[0] for r in rows[:meta]] == [f"({e.tag.group:04X},{e.tag.element:04X})" for e in ds.file_meta]
    assert _compare(ds, rows[meta:]) >= len(ds) - 1
    pixels = doc.get_element_by_id("pixel-data").text_content()
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    assert f"{frames} frame" in pixels and f"{ds.Columns} × {ds.Rows}" in pixels
    assert ("encapsulated" in pixels) == ds.file_meta.TransferSyntaxUID.is_compressed
    assert len(text) < 200_000  # the pixel data is not in the page


def test_private_elements_name_their_creator(uploaded: Any) -> None:
    server, files = uploaded
    doc = lxml_html.fromstring(_page(server, files["CT_small.dcm"][0]))
    ds = pydicom.dcmread(files["CT_small.dcm"][1], stop_before_pixels=True)
    private = next(e for e in ds if e.tag.is_private and e.tag.element >= 0x1000)
    creator = ds[(private.tag.group, private.tag.element >> 8)].value
    tag = f"({private.tag.group:04X},{private.tag.element:04X})"
    (row,) = doc.xpath(f'//table[@id="tags"]/tbody/tr[td[1]="{tag}"]')
    assert f"private: {creator}" in row.text_content()


def test_hostile_values_are_escaped_everywhere(uploaded: Any) -> None:
    server, files = uploaded
    text = _page(server, files["hostile"][0])
    for value in HOSTILE.values():
        assert value.split("=")[0] + "=" not in text  # no tag of it reaches the page
        assert value.replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;")[:20] in text
    assert "<b>CREATOR</b>" not in text and "EVIL &lt;b&gt;CREATOR&lt;/b&gt;" in text
    doc = lxml_html.fromstring(text)
    assert not doc.xpath("//script[contains(., 'alert')]") and not doc.xpath("//img[@onerror]")
    values = [td.text_content() for td in doc.xpath("//td[@class='value']")]
    for value in (HOSTILE["private"], HOSTILE["item"]):
        assert value in values
    assert any(HOSTILE["patient"] in v for v in values)


def test_the_elements_listed_are_capped(uploaded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server, files = uploaded
    thing_id, path = files["CT_small.dcm"]
    store, blobs = server.open_store(), server.open_blob_files()
    try:
        with store.read() as tx:
            version = tx.things.current(server.profile.record_id, thing_id)
            assert version is not None
            (ref,) = [r for r in tx.things.blob_refs(version.version_stamp) if r.content_type == "application/dicom"]
    finally:
        store.close()
    monkeypatch.setattr(tag_view, "MAX_ELEMENTS", 10)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    read = tag_view.read_tags(blobs, ref.blob_id)
    everything = len(ds.file_meta) + sum(1 for _ in ds.iterall() if _.tag != 0x7FE00010)
    assert read.shown == 10 and read.left_out > 0 and read.shown + read.left_out <= everything


def test_a_file_that_is_not_dicom_is_said(tmp_path: Path) -> None:
    class Files:
        def size(self, blob_id: str) -> int:
            return 4

        def read(self, blob_id: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
            yield b"junk"[start:][:length]

    with pytest.raises(tag_view.TagsUnreadable):
        tag_view.read_tags(Files(), "x")  # type: ignore[arg-type]
