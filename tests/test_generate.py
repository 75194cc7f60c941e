"""The build step: determinism, drift detection, wire rules, runtime assembly
(schema problems: test_schema_problems.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from hvgen.codegen.compiler import Compiler
from hvgen.codegen.schemaset import SchemaSet
from hvgen.errors import SchemaError
from hvgen_cli import main

from .conftest import ROOT

XSD = ROOT / "xsd"
TEMPLATES = ROOT / "templates"
RUNTIME = ROOT / "runtime"
GENERATED = ROOT / "generated"


@pytest.fixture(scope="module")
def compiled() -> dict[str, str]:
    return Compiler(XSD, TEMPLATES, RUNTIME).compile()


def test_output_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two compilations from scratch (each with an empty cache, or the second is
    # the first read back): this process, and another with other hash seeds.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache-a"))
    here = Compiler(XSD, TEMPLATES, RUNTIME).compile()
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache-b"), "PYTHONHASHSEED": "12345"}
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "hvgen_cli", "generate", "--out", str(out)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    there = {
        p.relative_to(out).as_posix(): p.read_text()
        for p in out.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert sorted(there) == sorted(here)
    assert there == here


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


# -- runtime assembly ---------------------------------------------------------------


def _import_package(out: Path, package: str) -> dict[str, list[str]]:
    """Import every module of a freshly written package, and every name of its
    ``__all__``, in a clean interpreter."""
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
        public = [n for n in pkg.__all__ if getattr(pkg, n) is not None]
        print(json.dumps({{"modules": names, "all": public}}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    import json

    found: dict[str, list[str]] = json.loads(result.stdout)
    return found


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
    imported = _import_package(tmp_path, "reduced")
    modules = {m.split(".")[1] for m in imported["modules"]}
    assert kept <= modules
    assert not gone & modules
    left_out = dict(compiler.left_out)
    assert gone <= set(left_out)
    init = files["reduced/__init__.py"]
    for name in gone:  # the package docstring says what was left out and why
        assert name in init.split("Left out")[1]
        assert left_out[name].startswith(("needs", "imports"))
    # Its public names are those of the modules it keeps, all importable;
    # the exception tree draws only what those modules define.
    assert {"HealthVaultClient", "ThingBlobs", "WrongAnswer"}.isdisjoint(imported["all"])
    assert {"HealthVaultError", "validate_data", "thing_class"} <= set(imported["all"])
    assert "WrongAnswer" not in init and "HealthVaultError  " in init


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
