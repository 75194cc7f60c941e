"""``hvgen study``: medical image studies on the platform."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hvgen_imaging.units import size_text

from .common import (
    alias,
    aliased,
    check_output_folder,
    emit,
    json_option,
    profile_option,
    progress_option,
    reported,
    showing,
)
from .failures import on_interrupt
from .studylist import study_list
from .studyshared import RESUMES, change_options, scan, sign_options, signer, signing_key, studies, thing_option
from .studytext import (
    heading,
    names_a_file,
    plural,
    result_line,
    skipped_json,
    skipped_lines,
    study_name,
    without_study_uid_skipped,
)
from .terminal import Progress, echo_err

if TYPE_CHECKING:
    from hvgen_imaging.results import StudySummary, UploadResult


@click.group()
def study() -> None:
    """Medical image studies: DICOM folders to the platform and back.

    \b
    Examples:
      hvgen study upload ./CT_HEAD --sign --key key.pem --cert cert.pem
      hvgen study list
      hvgen study show 1.2.840.113619.2.55
      hvgen study download 1.2.840.113619.2.55 ./copy
      hvgen study add-series 1.2.840.113619.2.55 ./MORE
      hvgen study remove-series 1.2.840.113619.2.55 1.2.840.113619.2.55.3
      hvgen study delete 1.2.840.113619.2.55

    A signed study is not changed without signing it again (--sign) or
    saying the signature may go (--unsigned-ok). When the record holds
    several studies with one Study Instance UID, name one with --thing.
    """


@study.command("upload")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option("--v1", "version1", is_flag=True, help="Write medical image study version 1 (default: version 2).")
@click.option("--no-previews", is_flag=True, help="Do not make JPEG previews.")
@click.option(
    "--unsigned-ok", is_flag=True, help="Add to a signed study without signing it again: its signature is removed."
)
@sign_options
@json_option
@progress_option()
@profile_option
def study_upload(
    folder: Path,
    version1: bool,
    no_previews: bool,
    unsigned_ok: bool,
    sign: bool,
    key: Path | None,
    cert: Path | None,
    sha256: bool,
    as_json: bool,
    progress: bool,
    profile_path: Path | None,
) -> None:
    """Upload the DICOM files under FOLDER as medical image studies.

    Files are grouped by Study Instance UID; each study's DICOM files and
    previews are streamed as blobs, then the study thing is written. Files
    that are not DICOM, unreadable or cut short are skipped, each named with
    the reason. Running it again after an interruption resumes where it
    stopped, and never makes a second study for the same Study Instance UID:
    the stored study gets what it lacks (with --sign, an unchanged unsigned
    study is signed).
    """
    keys = signing_key(sign, key, cert, sha256)
    show = showing(progress, as_json)
    results: list[UploadResult] = []
    errors: list[tuple[str, str]] = []
    with studies(profile_path) as record:  # the platform first: nothing is scanned or rendered for one that is down
        on_interrupt(RESUMES)
        from hvgen_imaging import study as study_mod
        from hvgen_imaging.results import StudyError

        chosen = signer(keys)
        scanned = without_study_uid_skipped(scan(folder, show))
        if not as_json:
            for line in skipped_lines(scanned):
                echo_err(line)
        if not scanned.studies:
            raise click.ClickException(f"no DICOM file under {folder} has a Study Instance UID; nothing was uploaded")
        for scanned_study in scanned.studies:
            heading(
                show,
                f"study {scanned_study.uid}: {plural(len(scanned_study.images), 'image')}, {size_text(scanned_study.size)}",
            )
            with Progress("  previews", enabled=show and not no_previews, unit="image", transient=True) as bar:
                built = study_mod.build(
                    scanned_study, version=1 if version1 else 2, previews=not no_previews, progress=bar
                )
            with Progress("  uploading", enabled=show, total=built.size) as bar:
                record.progress = bar
                try:
                    result = record.upload(built, signer=chosen, drop_signature=unsigned_ok)
                except StudyError as exc:
                    errors.append((study_name(scanned_study), str(exc)))
                    continue
            results.append(result)
            if not as_json:
                for w in result.warnings:
                    if w not in scanned.warnings:  # a file read again to make its preview warns again
                        echo_err(f"note: {w}" if names_a_file(w) else f"note: study {result.study_uid}: {w}")
                click.echo(result_line(result, built.data.patient_name or "-"))
    if as_json:
        emit(
            True,
            {
                "studies": [r.as_dict() for r in results],
                "skipped": skipped_json(scanned),
                "notes": scanned.warnings,
                "errors": [{"study": name, "error": e} for name, e in errors],
            },
            lambda: None,
        )
    for name, error in errors:
        echo_err(f"Error: {name}: {error}")
    if errors:
        sys.exit(1)


study.add_command(study_list)


@study.command("show")
@click.argument("uid")
@thing_option
@json_option
@profile_option
def study_show(uid: str, thing_id: str | None, as_json: bool, profile_path: Path | None) -> None:
    """Show a study: its series, their images and sizes."""
    with studies(profile_path) as record:
        from hvgen_imaging.workflow import details

        info = details(record.require(uid, thing_id))

    def text() -> None:
        click.echo(
            f"study {info.study_uid}  (thing {info.thing_id}, medical image study v{info.version}{', signed' if info.signed else ''})"
        )
        click.echo(f"  date: {info.date}  patient: {info.patient or '-'}  description: {info.description or '-'}")
        for s in info.series_list:
            click.echo(
                f"  series {s.series_uid or '-'}: {s.modality or '-'} {s.body_part or ''} {s.description or ''}".rstrip()
            )
            click.echo(f"    {plural(len(s.images), 'image')}, {size_text(s.bytes)}")
            for i in s.images:
                if i.missing:
                    click.echo(f"      {i.name}  missing: the thing holds no blob of this name")
                else:
                    click.echo(f"      {i.name}  {size_text(i.bytes)}{'  (preview)' if i.preview else ''}")

    emit(as_json, info.as_dict(), text)


@study.command("download")
@click.argument("uid")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--previews", is_flag=True, help="Also save the JPEG previews.")
@click.option(
    "--anonymize",
    is_flag=True,
    help="De-identify the files (DICOM basic application confidentiality profile, PS3.15 Annex E); "
    "UIDs are replaced consistently within the study, and so are the folder and file names.",
)
@thing_option
@json_option
@progress_option()
@profile_option
def study_download(
    uid: str,
    out: Path,
    previews: bool,
    anonymize: bool,
    thing_id: str | None,
    as_json: bool,
    progress: bool,
    profile_path: Path | None,
) -> None:
    """Download a study's DICOM files to OUT/<series-uid>/<sop-uid>.dcm.

    Every file is checked against its SHA256Block hash; a signed study's
    signature is verified against the downloaded bytes (exit status 1 if
    it does not hold). With --anonymize only the de-identified copies are
    left in OUT.
    """
    check_output_folder(out)
    notes: list[str] = []
    with studies(profile_path) as record, Progress("  downloading", enabled=showing(progress, as_json)) as bar:
        heading(showing(progress, as_json), f"study {uid}")
        record.progress = bar
        on_interrupt(
            ("" if anonymize else f"the files downloaded so far are in {out}; ")
            + "run the same command again to download the study (every file is fetched again)"
        )
        if anonymize:
            from hvgen_imaging.export import download_anonymized

            with reported(OSError, doing="write"):
                result, notes = download_anonymized(record, uid, out, previews=previews, thing_id=thing_id)
        else:
            result = record.download(uid, out, previews=previews, thing_id=thing_id)
    for note in notes:
        echo_err(f"note: {note}")

    def text() -> None:
        done = "hashes checked" + (", de-identified" if anonymize else "")
        click.echo(f"{plural(result.files, 'file')}, {size_text(result.bytes)} in {result.folder} ({done})")
        if result.signature is not None:
            click.echo(f"signature: {result.signature}")

    data = result.as_dict()
    if anonymize:
        data.update(anonymized=True, notes=notes)
    emit(as_json, data, text)
    if not result.signature_valid:
        sys.exit(1)


@study.command("add-series")
@click.argument("uid")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option("--allow-other-study", is_flag=True, help="Add series that belong to another study or patient.")
@alias("--force", "allow_other_study", is_flag=True)
@change_options
@json_option
@progress_option()
@profile_option
@click.pass_context
def study_add_series(
    ctx: click.Context,
    uid: str,
    folder: Path,
    allow_other_study: bool,
    unsigned_ok: bool,
    thing_id: str | None,
    sign: bool,
    key: Path | None,
    cert: Path | None,
    sha256: bool,
    as_json: bool,
    progress: bool,
    profile_path: Path | None,
) -> None:
    """Add the series in FOLDER to study UID.

    Files of another study or another patient are refused unless
    --allow-other-study is given.
    """
    allow_other_study = bool(aliased(ctx, "allow_other_study", allow_other_study))
    keys = signing_key(sign, key, cert, sha256)
    show = showing(progress, as_json)
    with studies(profile_path) as record:  # the platform first: nothing is scanned or rendered for one that is down
        on_interrupt(RESUMES)
        chosen = signer(keys)
        scanned = scan(folder, show)
        if not as_json:
            for line in skipped_lines(scanned):
                echo_err(line)
        heading(show, f"adding {plural(sum(len(s.images) for s in scanned.studies), 'image')} to study {uid}")
        with (
            Progress("  previews", enabled=show, unit="image", transient=True) as previews,
            Progress("  uploading", enabled=show) as bar,
        ):
            record.progress = bar
            result = record.add_series(
                uid,
                scanned,
                signer=chosen,
                drop_signature=unsigned_ok,
                other_study_ok=allow_other_study,
                thing_id=thing_id,
                previews_progress=previews,
            )

    def text() -> None:
        for w in result.warnings:
            if w not in scanned.warnings:
                echo_err(f"note: {w}")
        click.echo(
            f"{uid}: now {result.series} series, "
            f"{plural(result.images, 'image')} (thing {result.thing_id}; {plural(result.uploaded_blobs, 'blob')} sent"
            f"{', signed' if result.signed else ', signature removed' if result.signature_removed else ''})"
        )

    emit(as_json, {**result.as_dict(), "skipped": skipped_json(scanned), "notes": scanned.warnings}, text)


@study.command("remove-series")
@click.argument("uid")
@click.argument("series_uid")
@change_options
@json_option
@profile_option
def study_remove_series(
    uid: str,
    series_uid: str,
    unsigned_ok: bool,
    thing_id: str | None,
    sign: bool,
    key: Path | None,
    cert: Path | None,
    sha256: bool,
    as_json: bool,
    profile_path: Path | None,
) -> None:
    """Remove series SERIES_UID (and its blobs) from study UID."""
    keys = signing_key(sign, key, cert, sha256)
    with studies(profile_path) as record:
        chosen = signer(keys)
        on_interrupt(f"the series may or may not have been removed: `hvgen study show {uid}` shows which")
        result = record.remove_series(uid, series_uid, signer=chosen, drop_signature=unsigned_ok, thing_id=thing_id)

    def text() -> None:
        click.echo(
            f"{uid}: removed series {series_uid}; now {result.series} series, "
            f"{plural(result.images, 'image')} (thing {result.thing_id}"
            f"{', signed' if result.signed else ', signature removed' if result.signature_removed else ''})"
        )

    emit(as_json, result.as_dict(), text)


@study.command("delete")
@click.argument("uid")
@thing_option
@json_option
@profile_option
def study_delete(uid: str, thing_id: str | None, as_json: bool, profile_path: Path | None) -> None:
    """Delete study UID: the thing is marked deleted, and blobs no other
    thing uses are removed from the platform."""
    with studies(profile_path) as record:
        on_interrupt(f"the study may or may not have been deleted: `hvgen study show {uid}` shows whether it is there")
        gone: StudySummary = record.delete(uid, thing_id=thing_id)
    emit(
        as_json,
        {**gone.as_dict(), "deleted": True},
        lambda: click.echo(
            f"deleted study {uid}: thing {gone.thing_id} ({gone.series} series, "
            f"{plural(gone.images, 'image')}, {size_text(gone.bytes)}{', signed' if gone.signed else ''})"
        ),
    )
