"""Golden round trips of every seed example and every reference sample.

Each input goes through ``hvgen roundtrip`` (decode through the bindings,
write back). The output is compared byte for byte with the committed file in
``tests/golden/expected``; a refused input is compared with its ``.err``
file. Independently, the output must keep every element, attribute and
value of the input (see ``xmlcompare``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from hvgen_cli import main

from .conftest import GOLDEN, REFERENCE, SEEDS, needs_seeds
from .xmlcompare import compare

INPUTS = sorted((GOLDEN / "input").glob("*.xml"))
SAMPLES = sorted((REFERENCE / "samples").glob("*.xml")) if REFERENCE.is_dir() else []
EXPECTED = GOLDEN / "expected"
UPDATE = os.environ.get("HVGEN_UPDATE_GOLDEN") == "1"


def run_roundtrip(path: Path) -> tuple[int, bytes]:
    result = CliRunner().invoke(main, ["roundtrip", str(path)])
    out = result.stdout_bytes if result.exit_code == 0 else result.output.encode()
    return result.exit_code, out


def check_golden(path: Path) -> None:
    code, out = run_roundtrip(path)
    name = path.name
    ok_file, err_file = EXPECTED / name, EXPECTED / (path.stem + ".err")
    if UPDATE:
        ok_file.unlink(missing_ok=True)
        err_file.unlink(missing_ok=True)
        (ok_file if code == 0 else err_file).write_bytes(out)
    if err_file.exists():
        assert code == 1, f"{name} was expected to be refused, got output {out[:200]!r}"
        assert out == err_file.read_bytes()
        assert out.count(b"\n") == 1, "the error is one line"
        return
    assert code == 0, out.decode()
    assert out == ok_file.read_bytes(), f"{name}: output differs from {ok_file}"
    comparison = compare(path.read_bytes(), out)
    assert comparison.differences == [], "\n".join(comparison.differences)
    assert comparison.normalized == [], comparison.normalized


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_seed_example_round_trips(path: Path) -> None:
    check_golden(path)


@pytest.mark.skipif(not SAMPLES, reason="../shared/reference is not present")
@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_reference_sample_round_trips(path: Path) -> None:
    check_golden(path)


def test_every_expected_file_has_an_input() -> None:
    names = {p.stem for p in INPUTS} | {p.stem for p in SAMPLES}
    for expected in EXPECTED.iterdir():
        if REFERENCE.is_dir() or not re.match(r"[0-9a-f]{8}-", expected.name):
            assert expected.stem in names, f"stale golden file {expected.name}"


@needs_seeds
@pytest.mark.parametrize(
    "path",
    [p for p in INPUTS if not re.search(r"-(dsig-ns|no-ellipsis|well-formed|one-blob)\.xml$", p.name)],
    ids=lambda p: p.name,
)
def test_seed_example_is_verbatim(path: Path) -> None:
    """The committed examples are the seed documents' own text."""
    text = path.read_text(encoding="utf-8").strip()
    seeds = (SEEDS / "medical-imaging.md").read_text() + (SEEDS / "thing-types.md").read_text()
    assert text in seeds


def test_refused_examples_have_completed_variants() -> None:
    """A refusal is never the only coverage of an example."""
    for err in EXPECTED.glob("*.err"):
        variants = [p for p in INPUTS if p.stem.startswith(err.stem + "-")]
        assert any((EXPECTED / v.name).exists() for v in variants), f"{err.name} has no completed variant"
