"""``hvgen dicom send``, ``query`` and ``retrieve``: studies to and from other
DICOM nodes (DIMSE peers or DICOMweb services; see :mod:`.dicomnodes`).

``send`` takes a study of the profile's record, ``retrieve`` brings one into
it; both say what became of every instance and resume where the protocol
allows: what the other side already has is not sent again, and a study
retrieved again is merged into the record's study of that UID.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from .common import data_option, db_option, emit, json_option, needs_extra, profile_option, progress_option, showing
from .dicomnodes import Target, calling_option, resolve
from .failures import on_interrupt
from .studyshared import studies
from .studytext import plural
from .terminal import Progress, echo_err

token_option = click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="When the node is given as a DICOMweb URL: the file holding its bearer token "
    "(default: $HVGEN_PEER_TOKEN, if set).",
)


def _bar(show: bool, label: str, total: int | None) -> Progress:
    return Progress(label, enabled=show, total=total, unit="instance")


def _report(transfer: Any, target: Target, verb: str, as_json: bool, extra: dict[str, Any]) -> None:
    counts = {state: transfer.count(state) for state in ("sent", "received", "present", "failed")}
    data = {
        **extra,
        "node": target.as_dict(),
        **{k: v for k, v in counts.items() if v or k in ("failed", "present")},
        "instances": [o.as_dict() for o in transfer.outcomes],
    }

    def text() -> None:
        for o in transfer.failed:
            echo_err(f"failed: {o.sop_instance_uid or o.path}: {o.reason}")
        done = counts["sent"] or counts["received"]
        parts = [f"{verb} {plural(done, 'instance')}"]
        if counts["present"]:
            parts.append(f"{counts['present']} already there")
        if counts["failed"]:
            parts.append(f"{counts['failed']} failed")
        click.echo(", ".join(parts) + f" ({target})")

    emit(as_json, data, text)


@click.command("send")
@click.argument("uid")
@click.option(
    "--to", "to", required=True, help="The node: a name from `hvgen dicom node`, AE@HOST:PORT, or a DICOMweb URL."
)
@click.option(
    "--thing", "thing_id", default=None, help="The study thing, when the record has more than one of that UID."
)
@click.option("--resend", is_flag=True, help="Send every instance, also those the node already has.")
@calling_option
@token_option
@data_option
@db_option
@json_option
@progress_option()
@profile_option
def send(
    uid: str,
    to: str,
    thing_id: str | None,
    resend: bool,
    calling_ae: str,
    token_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    as_json: bool,
    progress: bool,
    profile_path: Path | None,
) -> None:
    """Send the study UID of the profile's record to another node.

    DIMSE nodes get C-STORE requests, DICOMweb services STOW-RS; each file
    goes as it is stored (its own transfer syntax). Instances the node
    already has (it answers a C-FIND or QIDO-RS for the study) are not sent
    again, so running the command again after an interruption goes on
    where it stopped. Exit status 1 when an instance was refused.

    \b
    Examples:
      hvgen dicom send 1.2.840.113619.2.55.3 --to PACS
      hvgen dicom send 1.2.840.113619.2.55.3 --to ORTHANC@127.0.0.1:4242 --json
    """
    from hvgen_imaging import peers, webpeer

    target = resolve(to, data_dir, database_url, token_file)
    show = showing(progress, as_json)
    try:  # (the node reached, and asked what it has, before anything is downloaded)
        if target.dimse is not None:
            peers.reach(target.dimse)
            found = peers.present(target.dimse, uid, calling_ae)
        else:
            found = webpeer.present(target.web, uid)
    except peers.PeerError as exc:
        raise click.ClickException(str(exc)) from None
    have = None if resend else found
    with tempfile.TemporaryDirectory(prefix="hvgen-send-") as work, studies(profile_path) as record:
        on_interrupt("run the same command again: what the node has already is not sent again")
        with Progress("  downloading", enabled=show) as bar:
            record.progress = bar
            downloaded = record.download(uid, Path(work) / "study", thing_id=thing_id)
        files = sorted(p for p in Path(downloaded.folder).rglob("*.dcm") if p.is_file())
        try:
            with _bar(show, "  sending", len(files)) as bar:
                done = [0]

                def step(_outcome: Any, _size: int) -> None:
                    done[0] += 1
                    bar(done[0])

                if target.dimse is not None:
                    transfer = peers.send(target.dimse, files, calling=calling_ae, skip=have, progress=step)
                else:
                    transfer = webpeer.send(target.web, files, skip=have, progress=step)
        except peers.PeerError as exc:
            raise click.ClickException(str(exc)) from None
    for outcome in transfer.outcomes:  # (the copies sent are gone with their temporary folder)
        outcome.path = ""
    _report(transfer, target, "sent", as_json, {"study_uid": uid})
    if transfer.failed:
        sys.exit(1)


_LEVEL_KEYS = {"patient": "PATIENT", "study": "STUDY", "series": "SERIES", "image": "IMAGE"}


@click.command("query")
@click.argument("node_name", metavar="NODE")
@click.option("--level", type=click.Choice(list(_LEVEL_KEYS)), default="study", show_default=True, help="What to list.")
@click.option("--patient", default=None, help="Patient's name; DICOM wildcards * and ? (e.g. 'DOE^*').")
@click.option("--patient-id", default=None, help="Patient ID.")
@click.option("--study", "study_uid", default=None, help="Study Instance UID (several: UID1\\UID2).")
@click.option("--series", "series_uid", default=None, help="Series Instance UID (for --level image).")
@click.option(
    "--date",
    default=None,
    callback=lambda _ctx, _param, value: dicom_dates(value),
    help="Study date or range: 20240101, 20240101-20240131, 20240101-, -20231231 (2024-01-01 is taken too).",
)
@click.option("--modality", default=None, help="Modality (studies: Modalities in Study), e.g. CT.")
@click.option("--accession", default=None, help="Accession number.")
@click.option("--key", "keys", multiple=True, metavar="KEYWORD=VALUE", help="Any other matching key (repeatable).")
@click.option(
    "--model",
    type=click.Choice(["study", "patient"]),
    default="study",
    show_default=True,
    help="DIMSE information model.",
)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many matches.")
@calling_option
@token_option
@data_option
@db_option
@json_option
def query(
    node_name: str,
    level: str,
    patient: str | None,
    patient_id: str | None,
    study_uid: str | None,
    series_uid: str | None,
    date: str | None,
    modality: str | None,
    accession: str | None,
    keys: tuple[str, ...],
    model: str,
    limit: int | None,
    calling_ae: str,
    token_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """List what NODE holds (C-FIND, or QIDO-RS for a DICOMweb service).

    \b
    Examples:
      hvgen dicom query PACS --patient 'DOE^*' --date 20240101-20240630
      hvgen dicom query PACS --level series --study 1.2.840.113619.2.55.3
      hvgen dicom query https://pacs.example/dicom-web --modality MR --json
    """
    from hvgen_imaging import peers, webpeer

    matching: dict[str, str] = {}
    for keyword, value in (
        ("PatientName", patient),
        ("PatientID", patient_id),
        ("StudyInstanceUID", study_uid),
        ("SeriesInstanceUID", series_uid),
        ("StudyDate", date),
        ("ModalitiesInStudy" if level in ("study", "patient") else "Modality", modality),
        ("AccessionNumber", accession),
    ):
        if value:
            matching[keyword] = value
    for item in keys:
        keyword, sep, value = item.partition("=")
        if not sep or not keyword.strip():
            raise click.BadParameter(f"{item!r} is not KEYWORD=VALUE", param_hint="--key")
        matching[keyword.strip()] = value
    target = resolve(node_name, data_dir, database_url, token_file)
    try:
        if target.dimse is not None:
            found = peers.find(target.dimse, _LEVEL_KEYS[level], matching, model=model, calling=calling_ae, limit=limit)
        else:
            found = webpeer.find(target.web, _LEVEL_KEYS[level], matching, limit=limit)
    except peers.PeerError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [_summary(ds, _LEVEL_KEYS[level]) for ds in found]

    def text() -> None:
        if not rows:
            click.echo(f"no matches on {target}", err=True)
            return
        for line in table(rows):
            click.echo(line)

    emit(as_json, [ds.to_json_dict() for ds in found] if as_json else rows, text)


def dicom_dates(value: str | None) -> str | None:
    """A date or range as DICOM writes it, ISO dates (2024-01-31) taken too."""
    if value is None:
        return None
    return re.sub(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)", r"\1\2\3", value.strip())


#: Column headings of the query's table, by keyword (the rest: the keyword itself).
_HEADINGS = {
    "PatientName": "PATIENT",
    "PatientID": "ID",
    "PatientBirthDate": "BIRTH",
    "PatientSex": "SEX",
    "StudyDate": "DATE",
    "StudyTime": "TIME",
    "AccessionNumber": "ACCESSION",
    "StudyDescription": "DESCRIPTION",
    "ModalitiesInStudy": "MODALITIES",
    "NumberOfStudyRelatedSeries": "SERIES",
    "NumberOfStudyRelatedInstances": "IMAGES",
    "NumberOfPatientRelatedStudies": "STUDIES",
    "NumberOfSeriesRelatedInstances": "IMAGES",
    "StudyInstanceUID": "STUDY-UID",
    "Modality": "MODALITY",
    "SeriesNumber": "NUMBER",
    "SeriesDescription": "DESCRIPTION",
    "SeriesInstanceUID": "SERIES-UID",
    "InstanceNumber": "NUMBER",
    "SOPClassUID": "SOP-CLASS",
    "SOPInstanceUID": "SOP-UID",
}


def table(rows: list[dict[str, str]]) -> list[str]:
    """Rows as lines of aligned columns under a heading; an empty value is ``-``."""
    keys = list(rows[0])
    cells = [[_HEADINGS.get(k, k.upper()) for k in keys]] + [[r.get(k) or "-" for k in keys] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(keys))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def _summary(ds: Any, level: str) -> dict[str, str]:
    from hvgen_imaging.peers import RETURN_KEYS

    out: dict[str, str] = {}
    for keyword in RETURN_KEYS[level]:
        value = ds.get(keyword)
        out[keyword] = "\\".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value or "")
        if keyword == "PatientName":
            out[keyword] = out[keyword] or "(no name)"
    return out


@click.command("retrieve")
@click.argument("node_name", metavar="NODE")
@click.option("--study", "study_uid", required=True, help="The Study Instance UID to retrieve.")
@click.option("--series", "series_uid", default=None, help="Only this series of the study.")
@click.option(
    "--keep",
    "keep",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Also keep the retrieved files in this folder.",
)
@click.option(
    "--move",
    "by_move",
    is_flag=True,
    help="Ask with C-MOVE instead of C-GET: hvgen listens on --port under --calling-ae while the node sends "
    "(the node must know that AE title at this machine's address and port).",
)
@click.option(
    "--port",
    "move_port",
    type=click.IntRange(1, 65535),
    default=11113,
    show_default=True,
    help="With --move: the port the moved instances come to.",
)
@calling_option
@token_option
@data_option
@db_option
@json_option
@progress_option()
@profile_option
@click.pass_context
def retrieve(
    ctx: click.Context,
    node_name: str,
    study_uid: str,
    series_uid: str | None,
    keep: Path | None,
    by_move: bool,
    move_port: int,
    calling_ae: str,
    token_file: Path | None,
    data_dir: Path | None,
    database_url: str | None,
    as_json: bool,
    progress: bool,
    profile_path: Path | None,
) -> None:
    """Retrieve a study from NODE into the profile's record.

    DIMSE nodes are asked with C-GET (the instances come back on the same
    association: nothing to configure on the node but our AE title), or
    with C-MOVE (--move: the node sends to a storage service hvgen runs on
    --port for the time of the retrieval),
    DICOMweb services with WADO-RS. The instances are then stored as
    `hvgen study upload` stores a folder: into the record's study of that
    UID when it has one, which keeps what it holds.

    \b
    Examples:
      hvgen dicom retrieve PACS --study 1.2.840.113619.2.55.3
      hvgen dicom retrieve https://pacs.example/dicom-web --study 1.2.3 --series 1.2.3.4
    """
    from hvgen_imaging import peers, retrieving, webpeer

    from .study import study_upload

    target = resolve(node_name, data_dir, database_url, token_file)
    show = showing(progress, as_json)
    with tempfile.TemporaryDirectory(prefix="hvgen-retrieve-") as work:
        folder = keep or Path(work) / "retrieved"
        on_interrupt("run the same command again to retrieve the study")
        with _bar(show, "  retrieving", None) as bar:
            done = [0]

            def step(_outcome: Any, _size: int) -> None:
                done[0] += 1
                bar(done[0])

            try:
                if target.dimse is not None and by_move:
                    transfer = retrieving.move(
                        target.dimse,
                        study_uid,
                        folder,
                        port=move_port,
                        series_uid=series_uid,
                        calling=calling_ae,
                        progress=step,
                    )
                elif target.dimse is not None:
                    transfer = retrieving.get(
                        target.dimse, study_uid, folder, series_uid=series_uid, calling=calling_ae, progress=step
                    )
                else:
                    transfer = webpeer.get(target.web, study_uid, folder, series_uid=series_uid, progress=step)
            except peers.PeerError as exc:
                raise click.ClickException(str(exc)) from None
        if not as_json:
            _report(transfer, target, "retrieved", False, {})
        if transfer.count("received"):
            with needs_extra("imaging"):
                ctx.invoke(study_upload, folder=folder, as_json=as_json, progress=progress, profile_path=profile_path)
    if as_json and not transfer.count("received"):
        _report(transfer, target, "retrieved", True, {"study_uid": study_uid})
    if transfer.failed or not transfer.count("received"):
        sys.exit(1)
