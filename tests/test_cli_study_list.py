"""``hvgen study list`` as people read it: 80 columns in a terminal of 80
columns (and when piped), the viewer's filters, one unit convention; the
upload's scan bar counts files and its result names the patient."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pydicom
import pytest

from .dicomgen import make_study
from .localserver import start_server
from .terminal import assert_clean, hvgen_env, in_terminal, invoke, piped

LONG_NAME = "VERYLONGFAMILYNAME^WITH^MANY^GIVEN^NAMES^AND^MORE"
LONG_SHOWN = LONG_NAME.replace("^", " ")  # as the study thing holds it


def _describe(folder: Path, description: str) -> None:
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.StudyDescription = description
        ds.save_as(path)


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory):
    """A platform holding three studies (uploaded in a terminal of 80 columns), and its environment."""
    base = tmp_path_factory.mktemp("study-list")
    running = start_server(base / "server")
    env = hvgen_env(base / "home", running.profile_path)
    made = {}
    for name, kwargs, description in [
        ("jane", {"patient": "DOE^JANE", "study_date": "20240517", "modality": "CT", "seed": 1}, None),
        ("long", {"patient": LONG_NAME, "study_date": "20230101", "modality": "MR", "seed": 2}, "KNEE LEFT " * 6),
        ("roe", {"patient": "ROE^RICHARD", "study_date": "20250203", "modality": "US", "seed": 3}, "Abdomen"),
    ]:
        folder = base / name
        made[name] = make_study(folder, series=2, images=3, size=32, **kwargs)  # type: ignore[arg-type]
        if description:
            _describe(folder, description)
        run = in_terminal(["study", "upload", str(folder)], env, columns=80)
        assert run.code == 0, run.output
        made[name + "_upload"] = run  # type: ignore[assignment]
    yield env, made
    running.stop()


def test_the_default_list_fits_80_columns(listed) -> None:
    env, made = listed
    things = {s["study_uid"]: s["thing_id"] for s in json.loads(invoke(["study", "list", "--json"], env).output)}
    for run in (in_terminal(["study", "list"], env, columns=80), piped(["study", "list"], env)):
        assert run.code == 0, run.output
        assert_clean(run)
        lines = run.output.replace("\r\n", "\n").rstrip("\n").split("\n")
        assert len(lines) == 4 and all(len(line) <= 80 for line in lines), lines
        assert lines[0].split() == ["PATIENT", "DATE", "MODALITY", "SER/IMG", "ID", "DESCRIPTION"]
        roe, jane, long = lines[1:]  # newest first
        assert roe.startswith("ROE RICHARD ") and "2025-02-03  US" in roe and " 2/6  " in roe and "Abdomen" in roe
        assert jane.startswith("DOE JANE ") and "2024-05-17  CT" in jane and "CT HEAD" in jane
        assert long.startswith(LONG_SHOWN[:15]) and LONG_SHOWN not in long and "…" in long, "a long name is cut"
        assert long.endswith("…"), "so is a long description"
        for line, key in ((roe, "roe"), (jane, "jane"), (long, "long")):
            short = re.search(r" 2/6  (\S+)", line)[1]  # type: ignore[index]
            thing_id = things[str(made[key]["study_uid"])]
            assert len(short) >= 8 and thing_id.startswith(short), (short, thing_id)
    wide = piped(["study", "list", "--wide"], env)
    assert LONG_SHOWN in wide.output and str(made["jane"]["study_uid"]) in wide.output and "ACC00001" in wide.output


def _uids(env: dict[str, str], *args: str) -> set[str]:
    run = piped(["study", "list", "--json", *args], env)
    assert run.code == 0, run.stderr
    return {s["study_uid"] for s in json.loads(run.output)}


def test_filters_choose_studies_as_the_viewer_does(listed) -> None:
    env, made = listed
    jane, long, roe = (str(made[k]["study_uid"]) for k in ("jane", "long", "roe"))
    assert _uids(env) == {jane, long, roe}
    assert _uids(env, "--patient", "doe") == {jane}, "no wildcard: any part of the name, case ignored"
    assert _uids(env, "--patient", "R?E*") == {roe}
    assert _uids(env, "--patient", "E*") == set(), "with a wildcard the whole name must match"
    assert _uids(env, "--patient", "doe jane") == {jane}, "a space matches the ^ between name parts"
    assert _uids(env, "--from", "2024-01-01", "--to", "20241231") == {jane}
    assert _uids(env, "--from", "2024-05-17") == {jane, roe}
    assert _uids(env, "--modality", "mr") == {long}
    assert _uids(env, "--accession", "ACC00003") == {roe}
    assert _uids(env, "--description", "*knee*") == {long}
    assert _uids(env, "--description", "knee", "--modality", "CT") == set()
    data = json.loads(piped(["study", "list", "--json", "--patient", "roe"], env).output)
    assert data[0]["modalities"] == ["US"] and data[0]["accession_number"] == "ACC00003"
    run = piped(["study", "list", "--patient", "nobody"], env)
    assert run.code == 0 and run.output == "no studies match (the record holds 3)\n"
    for bad, said in (
        (["--from", "17/05/2024"], "--from: '17/05/2024' is not a date (YYYY-MM-DD)"),
        (["--from", "2025-01-01", "--to", "2024-01-01"], "the date range is reversed"),
    ):
        run = piped(["study", "list", *bad], env)
        assert run.code == 2 and said in run.stderr and "Traceback" not in run.stderr, run.stderr


def test_upload_counts_files_and_names_the_patient(listed) -> None:
    env, made = listed
    run = made["roe_upload"]
    assert_clean(run)
    assert "0file" not in run.output and re.search(r"scanning: \d+ files \[", run.output), run.output
    uid = str(made["roe"]["study_uid"])
    (line,) = [line for line in run.lines if line.startswith(f"{uid}: created thing ")]
    assert "(patient ROE RICHARD, 2 series, 6 images; " in line
    assert f"study {uid}: 6 images, " in run.output and "KiB" in run.output
