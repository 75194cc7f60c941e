"""The build step: determinism, drift detection, schema errors, wire rules."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from hvgen.codegen.compiler import Compiler
from hvgen.codegen.schemaset import SchemaError, SchemaSet, SchemaSetError
from hvgen_cli import main

from .conftest import ROOT

XSD = ROOT / "xsd"
TEMPLATES = ROOT / "templates"
RUNTIME = ROOT / "runtime"
GENERATED = ROOT / "generated"


@pytest.fixture(scope="module")
def compiled() -> dict[str, str]:
    return Compiler(XSD, TEMPLATES, RUNTIME).compile()


def test_output_is_deterministic(compiled: dict[str, str]) -> None:
    again = Compiler(XSD, TEMPLATES, RUNTIME).compile()
    assert again == compiled


def test_committed_output_is_up_to_date() -> None:
    result = CliRunner().invoke(main, ["generate", "--check"])
    assert result.exit_code == 0, result.output


def test_check_names_drifting_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(GENERATED, out, ignore=shutil.ignore_patterns("__pycache__"))
    runner = CliRunner()
    assert runner.invoke(main, ["generate", "--check", "--out", str(out)]).exit_code == 0

    edited = out / "healthvault" / "bindings" / "thing.py"
    edited.write_text(edited.read_text() + "\n# hand edit\n")
    stray = out / "healthvault" / "stray.py"
    stray.write_text("")
    (out / "healthvault" / "registry.py").unlink()

    result = runner.invoke(main, ["generate", "--check", "--out", str(out)])
    assert result.exit_code == 1
    for name in ("bindings/thing.py", "stray.py", "registry.py"):
        assert name in result.output
    assert "codec.py" not in result.output

    result = runner.invoke(main, ["generate", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not stray.exists()
    assert runner.invoke(main, ["generate", "--check", "--out", str(out)]).exit_code == 0


def test_package_name_is_configurable(tmp_path: Path) -> None:
    files = Compiler(XSD, TEMPLATES, RUNTIME, package="otherpkg").compile()
    assert all(path.startswith("otherpkg/") for path in files)
    assert "otherpkg/py.typed" in files


# -- wire rules -------------------------------------------------------------------


def test_thing_type_roots_are_unqualified() -> None:
    from healthvault.bindings.things import medical_image_study, medical_image_study_2

    for module in (medical_image_study, medical_image_study_2):
        assert module.MedicalImageStudy.ELEMENT == "medical-image-study"  # no namespace


def test_request_info_unqualified_response_info_qualified() -> None:
    from healthvault.bindings.methods import method_putthings2, response_putthings

    assert method_putthings2.Info.ELEMENT == "info"
    assert response_putthings.Info.ELEMENT == "{urn:com.microsoft.wc.methods.response.PutThings}info"


def test_request_root_and_xmldsig_are_qualified() -> None:
    from healthvault.bindings import xmldsig
    from healthvault.bindings.methods import request

    assert request.Request.ELEMENT == "{urn:com.microsoft.wc.request}request"
    assert xmldsig.Signature.ELEMENT == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert xmldsig.SignedInfoType._CHILDREN["{http://www.w3.org/2000/09/xmldsig#}Reference"].name == "reference"


def test_no_alias_namespace_leaks(compiled: dict[str, str]) -> None:
    assert not any("#hvgen-version-" in text for text in compiled.values())


def test_v1_and_v2_coexist_and_differ() -> None:
    from healthvault.binding import Binding
    from healthvault.bindings.things import medical_image_study as v1
    from healthvault.bindings.things import medical_image_study_2 as v2

    def fields(cls: type[Binding]) -> set[str]:
        return {f.name for f in cls._CHILDREN.values()}

    v1_series = fields(v1.MedicalImageStudySeries)
    v2_series = fields(v2.MedicalImageStudySeries)
    assert "referring_physician" in v1_series - v2_series
    assert {"referring_physician", "accession_number"} <= fields(v2.MedicalImageStudy)
    assert "accession_number" not in fields(v1.MedicalImageStudy)


def test_type_ids_and_registry() -> None:
    from healthvault import registry
    from healthvault.bindings.things import medical_image_study as v1
    from healthvault.bindings.things import medical_image_study_2 as v2
    from healthvault.bindings.things.file import File

    assert v1.MedicalImageStudy.TYPE_ID == UUID("c75651c8-548e-449f-8942-9e6379b0b88a")
    assert v2.MedicalImageStudy.TYPE_ID == UUID("cdfc0a9b-6d3b-4d16-afa8-02b86d621a8d")
    assert v2.MedicalImageStudy.TYPE_NAME == "Medical image study"
    assert v2.MedicalImageStudy.TYPE_VERSION == 2
    assert registry.thing_class("CDFC0A9B-6D3B-4D16-AFA8-02B86D621A8D") is v2.MedicalImageStudy
    assert registry.thing_class(UUID("c75651c8-548e-449f-8942-9e6379b0b88a")) is v1.MedicalImageStudy
    assert registry.thing_class("bd0403c5-4ae2-4b0e-a8db-1888678e4528") is File
    assert registry.thing_class("00000000-0000-0000-0000-000000000000") is None
    assert registry.thing_class("not a guid") is None
    assert registry.classes_for_root("medical-image-study") == (v2.MedicalImageStudy, v1.MedicalImageStudy)
    assert len(registry.THING_TYPES) == 6


def test_docstrings_are_prose_not_xml() -> None:
    from healthvault.bindings.things import medical_image_study_2 as v2

    doc = v2.MedicalImageStudySeries.__doc__ or ""
    assert "<summary>" not in doc and "<remarks>" not in doc
    assert "One series of a study" in doc
    assert "acquisition_datetime: When the series was acquired." in doc


def test_docstrings_keep_dicom_remarks() -> None:
    from healthvault.bindings.things import medical_image_study_2 as v2

    image_doc = " ".join((v2.MedicalImageStudySeriesImage.__doc__ or "").split())
    assert (
        "image_blob_name: Name of the blob that holds the original image (the DICOM file). DICOM tag (0008,0018)"
        in image_doc
    )
    study_doc = " ".join((v2.MedicalImageStudy.__doc__ or "").split())
    for tag in (
        "(0008,0020)",
        "(0010,0010)",
        "(0008,1030)",
        "(0032,1030)",
        "(0020,000D)",
        "(0008,0090)",
        "(0008,0050)",
    ):
        assert tag in study_doc


# -- schema errors ----------------------------------------------------------------


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body).lstrip())
    return path


HEAD = '<schema xmlns="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t" targetNamespace="urn:t">'


def error_of(folder: Path) -> str:
    """What ``hvgen generate --strict`` says of a schema folder with a problem."""
    result = CliRunner().invoke(
        main, ["generate", "--xsd", str(folder), "--out", str(folder / "out"), "--package", "x", "--strict"]
    )
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[-1].startswith("Error: ") and "schema problem(s); nothing was generated" in lines[-1]
    assert all(line.startswith("error: ") for line in lines[:-1]), result.output
    assert not (folder / "out").exists()
    return result.output


def test_missing_import_names_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.xsd",
        f"""
        {HEAD}
          <import namespace="urn:u" schemaLocation="missing.xsd"/>
        </schema>""",
    )
    out = error_of(tmp_path)
    assert f"{tmp_path / 'a.xsd'}:2: imported schema not found" in out


def test_unknown_type_names_file_and_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.xsd",
        f"""
        {HEAD}
          <complexType name="A">
            <sequence>
              <element name="b" type="t:Nope"/>
            </sequence>
          </complexType>
        </schema>""",
    )
    out = error_of(tmp_path)
    assert f"{tmp_path / 'a.xsd'}:4: unknown type 't:Nope'" in out


def test_unknown_builtin_type(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.xsd",
        f"""
        {HEAD}
          <element name="e" type="strng"/>
        </schema>""".replace('xmlns:t="urn:t"', 'xmlns:t="urn:t" xmlns:xs="http://www.w3.org/2001/XMLSchema"'),
    )
    assert "unknown built-in type 'strng'" in error_of(tmp_path)


def test_duplicate_type_id(tmp_path: Path) -> None:
    for name, ns in (("one.xsd", "urn:one"), ("two.xsd", "urn:two")):
        write(
            tmp_path,
            name,
            f"""
            <schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="{ns}">
              <annotation><documentation>
                <type-id>11111111-2222-3333-4444-555555555555</type-id>
              </documentation></annotation>
              <element name="{name[:-4]}"><complexType><sequence/></complexType></element>
            </schema>""",
        )
    out = error_of(tmp_path)
    assert "two.xsd:3: duplicate type-id 11111111-2222-3333-4444-555555555555" in out
    assert "one.xsd" in out


def test_duplicate_definition_outside_thing_types(tmp_path: Path) -> None:
    body = f"""
        {HEAD}
          <complexType name="A"><sequence/></complexType>
        </schema>"""
    write(tmp_path, "a.xsd", body)
    write(tmp_path, "b.xsd", body)
    out = error_of(tmp_path)
    assert "b.xsd:2: type 'A' in namespace 'urn:t' is already defined in" in out


def test_malformed_schema(tmp_path: Path) -> None:
    write(tmp_path, "a.xsd", f"{HEAD}\n<element name='x'>\n</schema>\n")
    out = error_of(tmp_path)
    assert "a.xsd:3: not well-formed XML" in out


def test_entities_and_remote_imports_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.xsd",
        f"""
        <!DOCTYPE schema [<!ENTITY e SYSTEM "file:///etc/passwd">]>
        {HEAD}
          <annotation><documentation>&e;</documentation></annotation>
        </schema>""",
    )
    assert "entity reference &e; is not allowed" in error_of(tmp_path)
    (tmp_path / "a.xsd").unlink()
    write(
        tmp_path,
        "b.xsd",
        f"""
        {HEAD}
          <import namespace="urn:u" schemaLocation="http://127.0.0.1:9/u.xsd"/>
        </schema>""",
    )
    assert "remote schema location not allowed" in error_of(tmp_path)


def test_import_namespace_mismatch(tmp_path: Path) -> None:
    write(tmp_path, "u.xsd", '<schema xmlns="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:u"/>')
    write(
        tmp_path,
        "a.xsd",
        f"""
        {HEAD}
          <import namespace="urn:other" schemaLocation="u.xsd"/>
        </schema>""",
    )
    assert "import declares namespace 'urn:other' but u.xsd has targetNamespace 'urn:u'" in error_of(tmp_path)


def test_without_strict_problems_are_warnings_and_broken_schemas_are_left_out(tmp_path: Path) -> None:
    write(
        tmp_path,
        "good.xsd",
        f"""
        {HEAD}
          <complexType name="Good"><sequence><element name="v" type="string"/></sequence></complexType>
        </schema>""",
    )
    write(
        tmp_path,
        "broken.xsd",
        f"""
        {HEAD.replace("urn:t", "urn:b")}
          <complexType name="B"><sequence><element name="v" type="t:Nope"/></sequence></complexType>
        </schema>""".replace('xmlns:t="urn:b"', 'xmlns:t="urn:b"'),
    )
    write(
        tmp_path,
        "user.xsd",
        f"""
        {HEAD.replace("urn:t", "urn:c")}
          <import namespace="urn:b" schemaLocation="broken.xsd"/>
          <import namespace="urn:u" schemaLocation="missing.xsd"/>
        </schema>""",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["generate", "--xsd", str(tmp_path), "--out", str(out), "--package", "x"])
    assert result.exit_code == 0, result.output
    assert f"warning: {tmp_path / 'broken.xsd'}:2: unknown type 't:Nope'" in result.output
    assert f"warning: {tmp_path / 'user.xsd'}:3: imported schema not found" in result.output
    assert "2 schema(s) left out:" in result.output
    assert "  broken.xsd: broken.xsd:2: unknown type" in result.output
    assert "  user.xsd: " in result.output
    modules = {p.name for p in (out / "x" / "bindings").glob("*.py")}
    assert "good.py" in modules and "broken.py" not in modules and "user.py" not in modules


def test_a_schema_folder_reached_through_a_link_is_reported_as_given(tmp_path: Path) -> None:
    """Problems name files under the folder as the user named it, even when
    it (or a folder above it) is a symbolic link, as ../shared may be; the
    result is the same as through the real folder, cached or not."""
    real = tmp_path / "real" / "xsd"
    write(
        real,
        "user.xsd",
        f"""
        {HEAD}
          <import namespace="urn:u" schemaLocation="missing.xsd"/>
          <complexType name="A"><attribute ref="xml:lang"/></complexType>
        </schema>""",
    )
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    linked = tmp_path / "link" / "xsd"
    for _ in range(2):  # compiled, then read from the cache
        compiler = Compiler(linked, TEMPLATES, RUNTIME, package="linked")
        compiler.compile()
        problems = [str(p) for p in compiler.problems]
        assert f"{linked / 'user.xsd'}:2: imported schema not found: {linked / 'missing.xsd'}" in problems, problems
        assert any(p.startswith(f"{linked / 'user.xsd'}:3: uses 'xml:lang' without importing") for p in problems)
        assert not any(str(real) in p for p in problems)
    direct = Compiler(real, TEMPLATES, RUNTIME, package="linked")
    direct.compile()  # the same inputs, from the cache: named as given this time
    assert [str(p) for p in direct.problems] == [p.replace(str(linked), str(real)) for p in problems]
    result = CliRunner().invoke(main, ["generate", "--xsd", str(linked), "--out", str(tmp_path / "out"), "--strict"])
    assert result.exit_code == 1
    assert f"error: {linked / 'user.xsd'}:2: imported schema not found: {linked / 'missing.xsd'}" in result.output


def test_shipped_w3c_schemas_stand_in_for_missing_imports(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.xsd",
        f"""
        {HEAD.replace('xmlns:t="urn:t"', 'xmlns:t="urn:t" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"')}
          <import namespace="http://www.w3.org/2000/09/xmldsig#" schemaLocation="xmldsig-core-schema.xsd"/>
          <complexType name="A">
            <sequence><element ref="ds:Signature" minOccurs="0"/></sequence>
            <attribute ref="xml:lang"/>
          </complexType>
        </schema>""",
    )
    compiler = Compiler(tmp_path, TEMPLATES, RUNTIME, package="w3cpkg")
    files = compiler.compile()
    messages = [str(p) for p in compiler.problems]
    assert any(
        "a.xsd:2: imported schema not found: xmldsig-core-schema.xsd; using the shipped schema" in m for m in messages
    )
    assert any("a.xsd:5: uses 'xml:lang' without importing namespace" in m for m in messages)
    assert not compiler.excluded
    assert "w3cpkg/xsd/w3c/xml.xsd" in files and "w3cpkg/xsd/w3c/xmldsig.xsd" in files
    shipped = files["w3cpkg/xsd/a.xsd"]
    assert 'schemaLocation="w3c/xmldsig.xsd"' in shipped and 'schemaLocation="w3c/xml.xsd"' in shipped
    with pytest.raises(SchemaSetError):
        Compiler(tmp_path, TEMPLATES, RUNTIME, package="w3cpkg", strict=True).compile()


def test_the_project_schemas_build_strictly() -> None:
    compiler = Compiler(XSD, TEMPLATES, RUNTIME, strict=True)
    compiler.compile()
    assert compiler.problems == [] and compiler.excluded == {}


def test_schema_set_finds_thing_types() -> None:
    schemas = SchemaSet(sorted(XSD.rglob("*.xsd")))
    names = {sf.thing_type.root for sf in schemas.thing_types() if sf.thing_type}
    assert names == {"medical-image-study", "file", "personal-image", "blood-pressure", "password-protected-package"}
    assert len(schemas.aliases()) == 1


def test_schema_error_str_has_location() -> None:
    err = SchemaError(Path("x.xsd"), 7, "boom")
    assert str(err) == "x.xsd:7: boom"


# -- runtime assembly ---------------------------------------------------------------


def _import_package(out: Path, package: str) -> dict[str, object]:
    """Import every module of a freshly written package in a clean interpreter."""
    import subprocess
    import sys

    script = textwrap.dedent(
        f"""
        import importlib, json, pkgutil, sys
        sys.path.insert(0, {str(out)!r})
        pkg = importlib.import_module({package!r})
        names = sorted(m.name for m in pkgutil.walk_packages(pkg.__path__, {package!r} + "."))
        for name in names:
            importlib.import_module(name)
        print(json.dumps(names))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import json

    return {name: True for name in json.loads(result.stdout)}


@pytest.mark.parametrize(
    ("entries", "kept", "gone"),
    [
        # Things alone: reading and writing things, blobs and signatures, no envelopes.
        (
            ["things/medical-image-study.2.xsd", "thing.xsd"],
            {"codec", "blobhash", "signing", "registry", "validation", "safexml", "crypto"},
            {"protocol", "methods", "client", "blobs", "connectpackage"},
        ),
        # One thing-type schema without the thing envelope.
        (
            ["things/blood-pressure.xsd"],
            {"registry", "validation", "blobhash", "crypto", "errors"},
            {"codec", "signing", "protocol", "methods", "client", "blobs"},
        ),
    ],
)
def test_reduced_schema_sets_leave_out_runtime_parts_and_the_rest_imports(
    tmp_path: Path, entries: list[str], kept: set[str], gone: set[str]
) -> None:
    from hvgen.codegen.compiler import write

    compiler = Compiler(XSD, TEMPLATES, RUNTIME, package="reduced", entries=[XSD / e for e in entries])
    files = compiler.compile()
    write(files, tmp_path, "reduced")
    modules = {m.split(".")[1] for m in _import_package(tmp_path, "reduced")}
    assert kept <= modules
    assert not gone & modules
    left_out = dict(compiler.left_out)
    assert gone <= set(left_out)
    init = files["reduced/__init__.py"]
    for name in gone:  # the package docstring says what was left out and why
        assert name in init.split("Left out")[1]
        assert left_out[name].startswith(("needs", "imports"))


def test_runtime_modules_are_copied_verbatim(compiled: dict[str, str]) -> None:
    for source in sorted(RUNTIME.glob("*.py")):
        assert compiled[f"healthvault/{source.name}"] == source.read_text(encoding="utf-8")


def test_no_runtime_template_is_plain_python() -> None:
    for template in (TEMPLATES / "runtime").glob("*.jinja2"):
        text = template.read_text(encoding="utf-8")
        assert "{{" in text or "{%" in text, f"{template.name} has no template logic"


def test_runtime_module_must_declare_schema_imports(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    shutil.copytree(RUNTIME, runtime)
    (runtime / "extra.py").write_text('"""Extra."""\n\nfrom .schema import Thing2\n')
    with pytest.raises(SchemaError, match="without declaring it in SCHEMA_CLASSES: Thing2"):
        Compiler(XSD, TEMPLATES, runtime).compile()


def test_groups_of_different_schema_files_never_share_an_id() -> None:
    """The occurrences recorded before analysis are keyed by the ids of the
    groups on an element's path: a group of one file must never get the id of
    another file's group (a freed schema object's id can be reused), or an
    element would take the other group's minOccurs/maxOccurs."""
    from collections import defaultdict

    from hvgen.codegen import compiler as codegen_compiler

    compiler = Compiler(XSD, TEMPLATES, RUNTIME)
    schemas = SchemaSet(sorted(XSD.rglob("*.xsd")), compiler.fallbacks)
    transformer = codegen_compiler._Transformer(codegen_compiler._config("healthvault"), schemas, compiler._uri)
    transformer.process_sources([compiler._uri(p) for p in schemas.usable()])
    files_of: dict[int, set[str]] = defaultdict(set)
    stack = list(transformer.classes)
    while stack:
        cls = stack.pop()
        stack.extend(cls.inner)
        for attr in cls.attrs:
            for step in attr.restrictions.path:
                files_of[step[1]].add(cls.location or "")
    shared = {group: files for group, files in files_of.items() if len(files) > 1}
    assert not shared, shared
