"""The whole published thing-type catalog, compiled as published.

The catalog (../shared/reference/catalog: 392 schemas, defects included, and
sample data-xml named by type-id) is a user's input: it is compiled with the
generator here, never copied into the project. Skipped when absent.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import pytest
from click.testing import CliRunner
from lxml import etree

from healthvault.loading import load_generated, submodule
from hvgen.codegen.compiler import Compiler, write
from hvgen.codegen.schemaset import SchemaSetError
from hvgen_cli import main

from .conftest import REFERENCE, ROOT, examples

CATALOG = REFERENCE / "catalog"
XSD = CATALOG / "xsd"
SAMPLES = sorted((CATALOG / "samples").glob("*.xml")) if CATALOG.is_dir() else []

pytestmark = [
    pytest.mark.properties,
    pytest.mark.skipif(not CATALOG.is_dir(), reason="../shared/reference/catalog is not present"),
]


class Compiled:
    def __init__(self, compiler: Compiler, out: Path) -> None:
        self.compiler = compiler
        self.out = out
        self.package = load_generated(out / "hvcat")

    def module(self, name: str) -> ModuleType:
        return submodule(self.package, name)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Compiled:
    out = tmp_path_factory.mktemp("catalog")
    compiler = Compiler(XSD, ROOT / "templates", ROOT / "runtime", package="hvcat")
    write(compiler.compile(), out, "hvcat")
    return Compiled(compiler, out)


def _c14n(data: bytes) -> bytes:
    return bytes(etree.tostring(etree.fromstring(data), method="c14n"))


def test_the_catalog_compiles_as_published_with_its_problems_reported(catalog: Compiled) -> None:
    problems = [str(p) for p in catalog.compiler.problems]
    excluded = {p.name: why for p, why in catalog.compiler.excluded.items()}
    # Each defect the issue found is reported with its file and line, and only
    # what cannot be compiled is left out.
    assert any(p.startswith(f"{XSD / 'types.xsd'}:") and "xml.xsd; using the shipped schema" in p for p in problems)
    assert any(p.startswith(f"{XSD / 'vocab.xsd'}:109: uses 'xml:lang' without importing") for p in problems)
    assert "method-repsertdevicedirectoryitem.xsd" in excluded
    assert "method-repsertdevicedirectoryitem.xsd:60" in excluded["method-repsertdevicedirectoryitem.xsd"]
    for missing in (
        "app-config.xsd",
        "data-connection.xsd",
        "direct.xsd",
        "person-configuration.xsd",
        "messages.xsd",
        "Meaningful-Use.xsd",
        "binary-content.xsd",
        "vocab-config.xsd",
        "thing-type.xsd",
    ):
        assert any(f"imported schema not found: {XSD / missing}" in p for p in problems), missing
    assert "types.xsd" not in excluded and "thing.xsd" not in excluded and "vocab.xsd" not in excluded
    kept = len(list(XSD.glob("*.xsd"))) - len(excluded)
    assert kept > 330


def test_every_thing_type_of_the_catalog_is_registered(catalog: Compiled) -> None:
    registry = catalog.module("registry")
    declared = {}
    for path in XSD.glob("*.xsd"):
        root = etree.parse(str(path)).getroot()
        for type_id in root.iterfind("{*}annotation/{*}documentation/{*}type-id"):
            declared[UUID(type_id.text.strip())] = path.resolve()
    compiled = {k for k, path in declared.items() if path not in catalog.compiler.excluded}
    assert set(registry.THING_TYPES) == compiled and len(compiled) >= 100
    left_out = {k for k, path in declared.items() if path in catalog.compiler.excluded}
    assert len(left_out) <= 3  # the thing types whose schemas cannot be compiled
    for cls in registry.THING_TYPES.values():
        assert registry.THING_TYPES[cls.TYPE_ID] is cls and "}" not in cls.ELEMENT


def test_versions_of_a_type_live_side_by_side(catalog: Compiled) -> None:
    registry = catalog.module("registry")
    for root, classes in registry.ROOTS.items():
        if len(classes) > 1:
            ids = {c.TYPE_ID for c in classes}
            assert len(ids) == len(classes), root
    immunizations = registry.ROOTS["immunization"]
    assert len(immunizations) == 2 and immunizations[0] is not immunizations[1]
    assert len(registry.ROOTS["family-history"]) >= 2


def test_every_module_of_the_catalog_package_imports(catalog: Compiled) -> None:
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        sys.path.insert(0, {str(catalog.out)!r})
        import hvcat
        for m in pkgutil.walk_packages(hvcat.__path__, "hvcat."):
            importlib.import_module(m.name)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_strict_lists_every_problem_and_generates_nothing() -> None:
    with pytest.raises(SchemaSetError) as caught:
        Compiler(XSD, ROOT / "templates", ROOT / "runtime", package="hvcat", strict=True).compile()
    assert len(caught.value.problems) > 20
    assert "method-repsertdevicedirectoryitem.xsd:60" in str(caught.value)


def _wrapped(data: bytes, type_id: str) -> bytes:
    """A sample as the data-xml of a thing (its XML declaration, if any, dropped)."""
    body = data.split(b"?>", 1)[1] if data.lstrip().startswith(b"<?xml") else data
    return f"<thing><type-id>{type_id}</type-id><data-xml>".encode() + body + b"</data-xml></thing>"


def _read(codec: Any, errors: Any, data: bytes, type_id: str | None, where: str) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if type_id is None:
            obj = codec.read_data(data)
        else:
            thing = _wrapped(data, type_id)
            obj = codec.read_thing(thing)
    return obj, [str(w.message) for w in caught]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem[:8])
def test_each_sample_binds_by_type_id_and_round_trips(catalog: Compiled, sample: Path) -> None:
    codec, registry = catalog.module("codec"), catalog.module("registry")
    binding = catalog.module("binding")
    data = sample.read_bytes()
    type_id = sample.stem
    cls = registry.thing_class(type_id)
    thing, notes = _read(codec, None, data, type_id, sample.name)
    root = thing.data_xml[0].any_element
    if cls is None:  # a type the catalog has no schema for (CCR): kept raw, quietly
        assert isinstance(root, binding.RawElement) and not notes
    elif isinstance(root, binding.RawElement):  # invalid against its own schema: said so
        assert any("kept" in n and "raw XML" in n for n in notes), notes
    else:
        assert type(root) is cls and not notes, notes
    assert _c14n(codec.write_thing(thing)) == _c14n(_wrapped(data, type_id))


def test_most_samples_bind_typed(catalog: Compiled) -> None:
    """Raw (with a note) or typed both pass the test above, so a binder that
    kept everything raw would pass it: here the typed ones are counted. The
    catalog's samples are the published examples of their types; a few do
    not fit their own schema (see the notes), most do."""
    codec, registry = catalog.module("codec"), catalog.module("registry")
    binding = catalog.module("binding")
    typed: list[tuple[str, list[str]]] = []
    raw: list[tuple[str, list[str]]] = []
    for sample in SAMPLES:
        if registry.thing_class(sample.stem) is None:
            continue
        thing, notes = _read(codec, None, sample.read_bytes(), sample.stem, sample.name)
        root = thing.data_xml[0].any_element
        (raw if isinstance(root, binding.RawElement) else typed).append((sample.name, notes))
    assert len(typed) >= 4 * len(raw), f"only {len(typed)} of {len(typed) + len(raw)} samples typed: {raw}"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem[:8])
def test_each_sample_read_bare_binds_to_a_version_that_holds_it(catalog: Compiled, sample: Path) -> None:
    codec, registry = catalog.module("codec"), catalog.module("registry")
    binding = catalog.module("binding")
    data = sample.read_bytes()
    root, notes = _read(codec, None, data, None, sample.name)
    name = etree.fromstring(data).tag
    if isinstance(root, binding.RawElement):
        assert not registry.classes_for_root(name) or any("raw XML" in n for n in notes), notes
    else:
        assert root.ELEMENT == name and type(root) in registry.classes_for_root(name) and not notes
        strict = codec.read_data(data, strict=True)
        assert type(strict) is type(root)
    assert _c14n(codec.write_data(root)) == _c14n(data)


#: Thing types whose schemas hold range facets on doubles (base.xsd's
#: positiveDouble, nonNegativeDouble, zero-one...) or nillable elements.
STRICT_TYPES = [
    "HbA1C.2.xsd", "aerobic-profile.xsd", "dietary-intake.xsd", "exercise.xsd", "exercise-samples.xsd",
    "pap-session.xsd", "spirometer.xsd", "vital-signs.xsd", "weight.xsd",
]  # fmt: skip


@pytest.mark.parametrize("schema", STRICT_TYPES)
def test_strict_reading_of_catalog_types_agrees_with_libxml2(catalog: Compiled, schema: str) -> None:
    """A random document of the type with a value replaced by a lexical
    variant (NaN, INF, +INF, white space...) or an xsi:nil put somewhere is
    read strictly exactly when libxml2 finds it valid against the type's
    schema (as published), but where the runtime is stricter than libxml2
    and XML Schema 1.0 agrees (see test_strict_libxml2)."""
    from hypothesis import HealthCheck, given, settings

    from .test_strict_libxml2 import stricter_than_libxml2
    from .xmlstrategies import mutated_roots

    codec, registry, validation = catalog.module("codec"), catalog.module("registry"), catalog.module("validation")
    errors = catalog.module("errors")
    type_id = next(k for k, v in sorted(registry.SCHEMAS.items(), key=str) if Path(v).name == schema)
    cls = registry.thing_class(type_id)

    @settings(max_examples=examples(60), deadline=None, suppress_health_check=list(HealthCheck))
    @given(mutated_roots(cls))
    def check(root: etree._Element) -> None:
        root = etree.fromstring(etree.tostring(root))  # as parsed: no empty text nodes
        try:
            validation.validate_data(root, type_id)
            theirs = True
        except errors.HealthVaultXmlError:
            theirs = False
        try:
            codec.read_data(etree.tostring(root), type_id, strict=True)
            ours = True
        except errors.HealthVaultXmlError:
            ours = False
        if ours:
            assert theirs, f"strict reading accepted what libxml2 refuses: {etree.tostring(root)!r}"
        elif theirs:
            texts = [e.text or "" for e in root.iter() if isinstance(e.tag, str)]
            assert any(stricter_than_libxml2(n, t) for t in texts for n in ("double", "base64Binary", "date")), (
                f"strict reading refused what libxml2 accepts: {etree.tostring(root)!r}"
            )

    check()


def test_roundtrip_through_the_catalog_package_from_the_command_line(catalog: Compiled) -> None:
    sample = next(p for p in SAMPLES if p.stem.lower().startswith("3d817dbe"))  # an immunization
    result = CliRunner().invoke(main, ["roundtrip", "--bindings", str(catalog.out / "hvcat"), str(sample)])
    assert result.exit_code == 0, result.output
    assert _c14n(result.stdout_bytes) == _c14n(sample.read_bytes())
    result = CliRunner().invoke(main, ["roundtrip", "--bindings", str(catalog.out), str(sample)])
    assert result.exit_code == 1 and "is not a package made by hvgen generate" in result.output


@pytest.mark.parametrize(
    "entries",
    [["weight.xsd"], ["method-getthings3.xsd"], ["thing.xsd", "immunization.xsd", "immunization.1.xsd"], ["vocab.xsd"]],
)
def test_reduced_catalog_sets_import(tmp_path: Path, entries: list[str]) -> None:
    compiler = Compiler(XSD, ROOT / "templates", ROOT / "runtime", package="hvpart", entries=[XSD / e for e in entries])
    write(compiler.compile(), tmp_path, "hvpart")
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import hvpart
        for m in pkgutil.walk_packages(hvpart.__path__, "hvpart."):
            importlib.import_module(m.name)
        print(hvpart.__doc__)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    for name, _why in compiler.left_out:
        assert name in result.stdout.split("Left out")[1]
