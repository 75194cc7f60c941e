"""Read + write throughput of a GetThings3 response with 1,000 medical image
study things.

Compared in the same run with:
  * raw lxml: ``etree.fromstring`` + ``etree.tostring`` (no binding at all);
  * plain xsdata bindings made by ``xsdata generate --recursive`` from the same
    schemas, reading and writing the response's ``wc:info`` document (they
    have no envelope handling and leave data-xml untyped).

    .venv/bin/pip install -e ".[bench]"
    .venv/bin/python bench/codec.py [--things N]
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree

from bench._common import ROOT, best_of
from healthvault import codec
from healthvault.bindings.base import CodableValue, Organization
from healthvault.bindings.dates import Date, DateTime, Time
from healthvault.bindings.methods.response import Status
from healthvault.bindings.methods.response_getthings3 import Info, ThingResponseGroup2
from healthvault.bindings.thing import (
    BlobHashInfo,
    BlobInfo,
    BlobPayload,
    BlobPayloadItem,
    Common,
    DataXml,
    Thing2,
    ThingKey,
    ThingType,
)
from healthvault.bindings.things.medical_image_study_2 import (
    MedicalImageStudy,
    MedicalImageStudySeries,
    MedicalImageStudySeriesImage,
)
from healthvault.bindings.wc_types import BlobHashAlgorithmParameters


def make_thing(i: int) -> Thing2:
    images = [
        MedicalImageStudySeriesImage(
            image_blob_name=f"1.2.840.{i}.{s}.{k}", image_preview_blob_name=f"1.2.840.{i}.{s}.{k}_preview"
        )
        for s in range(2)
        for k in range(4)
    ]
    series = [
        MedicalImageStudySeries(
            acquisition_datetime=DateTime(date=Date(y=2024, m=5, d=17), time=Time(h=10, m=s, s=0)),
            description=f"Series {s}",
            images=images[s * 4 : s * 4 + 4],
            institution_name=Organization(name="General Hospital"),
            modality=CodableValue(text="CT"),
            body_part=CodableValue(text="HEAD"),
            series_instance_uid=f"1.2.840.{i}.{s}",
        )
        for s in range(2)
    ]
    study = MedicalImageStudy(
        when=DateTime(date=Date(y=2024, m=5, d=17), time=Time(h=10, m=0, s=0)),
        patient_name="DOE^JANE",
        description="CT head",
        series=series,
        study_instance_uid=f"1.2.840.{i}",
        accession_number=f"ACC{i:06d}",
    )
    blobs = [
        BlobPayloadItem(
            blob_info=BlobInfo(
                name=img.image_blob_name,
                content_type="application/dicom",
                hash_info=BlobHashInfo(
                    algorithm="SHA256Block",
                    params=BlobHashAlgorithmParameters(block_size=2097152),
                    hash="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                ),
            ),
            blob_ref_url=f"http://127.0.0.1:8080/blob/{i}/{n}?token=abcdef",
        )
        for n, img in enumerate(images)
    ]
    return Thing2(
        thing_id=ThingKey(
            value=f"{i:08x}-0000-4000-8000-000000000000", version_stamp="11111111-2222-4333-8444-555555555555"
        ),
        type_id=ThingType(value=str(MedicalImageStudy.TYPE_ID), name="Medical Image Study"),
        data_xml=[DataXml(any_element=study, common=Common(note="bench"))],
        blob_payload=BlobPayload(blob=blobs),
    )


def plain_bindings(tmp: Path) -> tuple[type, Any, Any]:
    shutil.copytree(ROOT / "xsd", tmp / "xsd")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(
        [str(Path(sys.executable).parent / "xsdata"), "generate", "xsd", "--recursive", "--package", "plainbench"],
        cwd=tmp,
        check=True,
        capture_output=True,
        env=env,
    )
    sys.path.insert(0, str(tmp))
    module = importlib.import_module("plainbench.methods.response_getthings3")
    from xsdata.formats.dataclass.parsers import XmlParser
    from xsdata.formats.dataclass.serializers import XmlSerializer

    return module.Info, XmlParser(), XmlSerializer()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def memory_child(mode: str, path: str) -> None:
    """Peak memory growth (KiB) of holding the parsed document: the lxml tree
    alone, or what reading it through the codec holds (tree + views)."""
    import gc

    data = Path(path).read_bytes()
    codec.read_response(data[:0] or b"<response><status><code>0</code></status></response>")
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # restart the peak (VmHWM) from now
    before = _status_kib("VmRSS")
    if mode == "lxml":
        kept: object = etree.fromstring(data)
    else:
        kept = codec.read_response(data, strict=True)
    print(_status_kib("VmHWM") - before, flush=True)
    del kept


def memory(data: bytes) -> tuple[int, int]:
    with tempfile.NamedTemporaryFile(suffix=".xml") as f:
        f.write(data)
        f.flush()
        out = {}
        for mode in ("lxml", "codec"):
            result = subprocess.run(
                [sys.executable, __file__, "--memory", mode, f.name], capture_output=True, text=True, check=True
            )
            out[mode] = int(result.stdout.strip().splitlines()[-1])
    return out["lxml"], out["codec"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--things", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory:
        memory_child(*args.memory)
        return

    envelope = codec.ResponseEnvelope(
        status=Status(code=0),
        info=Info(group=[ThingResponseGroup2(thing=[make_thing(i) for i in range(args.things)])]),
    )
    data = codec.write_response(envelope)
    size_mb = len(data) / 1e6
    info_doc = etree.tostring(etree.fromstring(data)[1])

    ours = best_of(lambda: codec.write_response(codec.read_response(data, strict=True)), args.repeat)
    raw = best_of(lambda: etree.tostring(etree.fromstring(data)), args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        info_cls, parser, serializer = plain_bindings(Path(tmp))
        plain = best_of(lambda: serializer.render(parser.from_bytes(info_doc, info_cls)), args.repeat)

    check = codec.read_response(data)
    study = check.info.group[0].thing[0].data_xml[0].any_element
    assert isinstance(study, MedicalImageStudy), type(study)
    assert codec.write_response(check) == data

    n = args.things
    print(f"document: {n} things, {size_mb:.1f} MB")
    for label, t in (
        ("hvgen codec (typed data-xml)", ours),
        ("plain xsdata (info only)", plain),
        ("raw lxml parse+serialize", raw),
    ):
        print(f"{label:30s} {t:7.3f} s  {size_mb / t:8.1f} MB/s  {n / t:9.0f} things/s")
    print(
        f"ratio hvgen / plain xsdata: {ours / plain:6.2f} ({plain / ours:.1f}x faster)   hvgen / raw lxml: {ours / raw:6.1f}"
    )
    tree_kib, codec_kib = memory(data)
    print(
        f"peak memory of reading: lxml tree {tree_kib / 1024:.1f} MiB, hvgen codec {codec_kib / 1024:.1f} MiB, ratio {codec_kib / max(tree_kib, 1):.2f}"
    )


if __name__ == "__main__":
    main()
