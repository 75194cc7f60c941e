"""``hvgen study list``: the record's studies, chosen as in the viewer's study list.

By default one line per study that fits 80 columns (or the terminal's
width when it is wider): patient, date, modalities, series/images, a
short id (the start of the thing id, as long as it is unique in the list)
and as much of the description as fits. ``--wide`` prints every column
whole; ``--json`` prints everything.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hvgen_imaging.units import size_text

from .common import emit, json_option, profile_option
from .studyshared import studies
from .terminal import echo_err

if TYPE_CHECKING:
    from hvgen_imaging.results import StudySummary

#: Width of the default table when standard output is not a terminal (or a narrow one).
WIDTH = 80
SHORT_ID = 8


def _stdout_columns() -> int:
    try:
        if sys.stdout.isatty():
            return max(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns)
    except (AttributeError, ValueError):
        pass
    return WIDTH


def short_ids(thing_ids: list[str]) -> dict[str, str]:
    """Each thing id's shortest start of at least 8 characters no other id in the list shares."""
    out: dict[str, str] = {}
    for thing_id in thing_ids:
        length = SHORT_ID
        while length < len(thing_id) and any(
            other != thing_id and other.startswith(thing_id[:length]) for other in thing_ids
        ):
            length += 1
        out[thing_id] = thing_id[:length]
    return out


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters (cut ones end with "…")."""
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…" if width > 0 else ""


def _table(table: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in table
    ]


def narrow_lines(rows: list[StudySummary], columns: int) -> list[str]:
    """The default table, no line longer than ``columns``."""
    ids = short_ids([r.thing_id or "" for r in rows])
    fixed = [
        [
            r.date,
            ",".join(r.modalities) or "-",
            f"{r.series}/{r.images}",
            ids.get(r.thing_id or "", "-") or "-",
        ]
        for r in rows
    ]
    head = ["DATE", "MODALITY", "SER/IMG", "ID"]
    widths = [max(len(row[i]) for row in [head, *fixed]) for i in range(len(head))]
    # patient first, then the fixed columns, then the description in what is left
    used = sum(widths) + 2 * len(widths)
    patient_width = min(
        max([len("PATIENT"), *(len(r.patient or "-") for r in rows)]), max(12, (columns - used) * 3 // 5)
    )
    left = columns - used - patient_width - 2
    lines = []
    for patient, cells, description in [
        ("PATIENT", head, "DESCRIPTION"),
        *[(r.patient or "-", f, r.description or "") for r, f in zip(rows, fixed, strict=True)],
    ]:
        parts = [cut(patient, patient_width).ljust(patient_width)]
        parts += [c.rjust(w) if i == 2 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        line = "  ".join(parts)
        if left >= 8:
            line += "  " + cut(description, left)
        lines.append(line.rstrip()[:columns])
    return lines


def wide_lines(rows: list[StudySummary]) -> list[str]:
    table = [
        [
            "DATE",
            "PATIENT",
            "MODALITY",
            "SERIES",
            "IMAGES",
            "SIZE",
            "SIGNED",
            "ACCESSION",
            "STUDY INSTANCE UID",
            "THING ID",
            "DESCRIPTION",
        ]
    ]
    for r in rows:
        table.append(
            [
                r.date,
                r.patient or "-",
                ",".join(r.modalities) or "-",
                str(r.series),
                str(r.images),
                size_text(r.bytes),
                "yes" if r.signed else "no",
                r.accession_number or "-",
                r.study_uid or "-",
                r.thing_id or "-",
                r.description or "-",
            ]
        )
    return _table(table, {3, 4, 5})


def chosen(rows: list[StudySummary], query: Any) -> list[StudySummary]:
    return [
        r
        for r in rows
        if query.matches(
            patient_name=r.patient,
            patient_id=None,
            day=dt.date.fromisoformat(r.date),
            modalities=r.modalities,
            accession=r.accession_number,
            description=r.description,
        )
    ]


def query_options(f: Any) -> Any:
    for name, help_text in reversed(
        [
            ("--patient", "Patient name: DICOM wildcards * and ?, else any part of it (case ignored)."),
            ("--from", "Studies on or after this date (YYYY-MM-DD)."),
            ("--to", "Studies on or before this date (YYYY-MM-DD)."),
            ("--modality", "Studies with a series of this modality (CT, MR, US...)."),
            ("--accession", "Accession number (wildcards as --patient)."),
            ("--description", "Study description (wildcards as --patient)."),
        ]
    ):
        names = [name, "date_from"] if name == "--from" else [name]
        f = click.option(*names, default="", metavar="DATE" if name in ("--from", "--to") else "TEXT", help=help_text)(
            f
        )
    return f


@click.command("list")
@query_options
@click.option("--wide", is_flag=True, help="Every column, whole: UIDs, accession, size, signature, thing id.")
@json_option
@profile_option
def study_list(
    patient: str,
    date_from: str,
    to: str,
    modality: str,
    accession: str,
    description: str,
    wide: bool,
    as_json: bool,
    profile_path: Path | None,
) -> None:
    """List the record's studies, newest first: patient, date, modalities,
    series/images and a short id (the start of the thing id) in 80 columns;
    --wide for every column, --json for scripts. The options choose studies
    as the viewer's search does."""
    from hvgen_imaging.matching import BadQuery, StudyQuery, parse_day

    try:
        query = StudyQuery(
            patient=patient,
            date_from=parse_day(date_from, "--from"),
            date_to=parse_day(to, "--to"),
            modality=modality,
            accession=accession,
            description=description,
        )
    except BadQuery as exc:
        raise click.UsageError(str(exc)) from None
    with studies(profile_path) as record:
        everything = record.summaries()
    rows = sorted(chosen(everything, query), key=lambda r: r.date, reverse=True)

    def text() -> None:
        if not rows:
            click.echo("no studies" if not everything else f"no studies match (the record holds {len(everything)})")
            return
        for line in wide_lines(rows) if wide else narrow_lines(rows, _stdout_columns()):
            click.echo(line)
        uids = [r.study_uid for r in rows if r.study_uid]
        for uid in sorted({u for u in uids if uids.count(u) > 1}):
            echo_err(f"note: {uids.count(uid)} studies have Study Instance UID {uid}; name one with --thing THING_ID")

    emit(as_json, [r.as_dict() for r in rows], text)
