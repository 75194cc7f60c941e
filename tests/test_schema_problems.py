"""The build step's schema checks: problems named by file and line, broken schemas left out
(or refused with --strict), shipped W3C schemas standing in."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from hvgen.codegen.compiler import Compiler
from hvgen.codegen.schemaset import SchemaSet
from hvgen.errors import SchemaError, SchemaSetError
from hvgen_cli import main

from .conftest import ROOT

XSD = ROOT / "xsd"
TEMPLATES = ROOT / "templates"
RUNTIME = ROOT / "runtime"


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
