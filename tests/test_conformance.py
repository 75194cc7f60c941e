"""Conformance with the platform's published schemas.

The generator compiles the reference schemas (../shared/reference/xsd) into a
temporary package; bindings from them and from this project's xsd/ must read
and write every sample identically.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from hvgen.codegen.compiler import Compiler, write
from hvgen.codegen.schemaset import SchemaError

from .conftest import REFERENCE, ROOT, needs_reference

pytestmark = needs_reference

THING_SCHEMAS = [
    "thing.xsd",
    "medical-image-study.xsd",
    "medical-image-study.2.xsd",
    "file.xsd",
    "personal-image.xsd",
    "bp.xsd",
]


@pytest.fixture(scope="module")
def reference_codec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    out = tmp_path_factory.mktemp("reference")
    xsd = REFERENCE / "xsd"
    files = Compiler(
        xsd, ROOT / "templates", ROOT / "runtime", package="hvref", entries=[xsd / n for n in THING_SCHEMAS]
    ).compile()
    write(files, out, "hvref")
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("hvref.codec")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == "hvref" or m.startswith("hvref.")]:
            del sys.modules[name]


SAMPLES = sorted((REFERENCE / "samples").glob("*.xml")) if REFERENCE.is_dir() else []


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_reference_and_own_bindings_write_identical_xml(sample: Path, reference_codec: ModuleType) -> None:
    from healthvault import codec

    type_id = sample.stem
    ours = codec.write_data(codec.read_data(sample.read_bytes(), type_id))
    theirs = reference_codec.write_data(reference_codec.read_data(sample.read_bytes(), type_id))
    assert ours == theirs
    assert not ours.startswith(b"<AnyElement"), "sample must decode into a typed class"
    assert (
        type(codec.read_data(sample.read_bytes(), type_id)).__name__
        == type(reference_codec.read_data(sample.read_bytes(), type_id)).__name__
    )


def test_reference_registry_matches_ours(reference_codec: ModuleType) -> None:
    from healthvault import registry

    theirs = importlib.import_module("hvref.registry")
    assert set(theirs.THING_TYPES) <= set(registry.THING_TYPES)  # ours also has the package type
    for type_id in theirs.THING_TYPES:
        cls = registry.THING_TYPES[type_id]
        assert theirs.THING_TYPES[type_id].ELEMENT == cls.ELEMENT
        assert "}" not in cls.ELEMENT  # unqualified, as on the wire


def test_reference_things_round_trip_through_both(reference_codec: ModuleType) -> None:
    from healthvault import codec

    sample = (REFERENCE / "samples" / "cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d.xml").read_text()
    thing = (
        "<thing><type-id>cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d</type-id><data-xml>"
        + sample
        + "<common><note>n</note></common></data-xml></thing>"
    ).encode()
    assert codec.write_thing(codec.read_thing(thing)) == reference_codec.write_thing(reference_codec.read_thing(thing))


def test_published_request_schema_is_reported_broken() -> None:
    """The published request.xsd names types its types.xsd lacks."""
    xsd = REFERENCE / "xsd"
    compiler = Compiler(xsd, ROOT / "templates", ROOT / "runtime", package="hvbad", entries=[xsd / "request.xsd"])
    files = compiler.compile()  # what it imports still compiles
    problems = [str(p) for p in compiler.problems]
    assert any(p.startswith(f"{xsd / 'request.xsd'}:") and "unknown type 'wc-types:" in p for p in problems)
    assert (xsd / "request.xsd").resolve() in compiler.excluded
    assert not any(path.startswith("hvbad/bindings/request") for path in files)
    with pytest.raises(SchemaError, match="unknown type 'wc-types:"):
        Compiler(
            xsd, ROOT / "templates", ROOT / "runtime", package="hvbad", entries=[xsd / "request.xsd"], strict=True
        ).compile()
