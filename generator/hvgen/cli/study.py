"""``hvgen study``: medical image studies on the platform."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import Bar, client, emit, json_option, needs_extra, profile_option, progress_option, reported

if TYPE_CHECKING:
    from hvgen_imaging.workflow import Signer, Studies


def signer(sign: bool, key: Path | None, cert: Path | None, sha256: bool) -> Signer | None:
    """The signer the --sign, --key, --cert and --sha256 options ask for."""
    if not sign:
        if key or cert:
            raise click.UsageError("--key and --cert go with --sign")
        return None
    if not key or not cert:
        raise click.UsageError("--sign needs --key and --cert")
    from healthvault import crypto

    with needs_extra("imaging"):
        from hvgen_imaging.workflow import Signer

    with reported(OSError, ValueError):
        return Signer(crypto.load_private_key(key), crypto.load_certificate(cert), "rsa-sha256" if sha256 else "rsa-sha1")


def sign_options(f: Any) -> Any:
    f = click.option("--sha256", is_flag=True, help="Sign with RSA-SHA256 instead of RSA-SHA1.")(f)
    f = click.option("--cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Signer's certificate (PEM).")(f)
    f = click.option("--key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="Signer's RSA private key (PEM).")(f)
    f = click.option("--sign", is_flag=True, help="Sign the study (needs --key and --cert).")(f)
    return f


@contextmanager
def studies(profile_path: Path | None, bar: Any = None) -> Iterator[Studies]:
    """The record's studies, through a client that is closed afterwards;
    library and file errors become one-line messages."""
    with needs_extra("imaging"):
        from hvgen_imaging.workflow import Studies

    with reported(OSError), client(profile_path) as hv:
        yield Studies(hv, progress=bar)


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
    """


@study.command("upload")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option("--v1", "version1", is_flag=True, help="Write medical image study version 1 (default: version 2).")
@click.option("--no-previews", is_flag=True, help="Do not make JPEG previews.")
@sign_options
@json_option
@progress_option("Show progress bars.")
@profile_option
def study_upload(folder: Path, version1: bool, no_previews: bool, sign: bool, key: Path | None, cert: Path | None, sha256: bool, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Upload the DICOM files under FOLDER as medical image studies.

    Files are grouped by Study Instance UID; each study's DICOM files and
    previews are streamed as blobs, then the study thing is written. Running
    it again after an interruption resumes where it stopped, and never makes
    a second study for the same Study Instance UID.
    """
    with needs_extra("imaging"):
        from hvgen_imaging import dicom
        from hvgen_imaging import study as study_mod

    chosen = signer(sign, key, cert, sha256)
    scanned = dicom.scan(folder)
    notes = [f"{p}: skipped ({why})" for p, why in scanned.skipped] + scanned.warnings
    if not scanned.studies:
        raise click.ClickException(f"no DICOM files under {folder}")
    results = []
    with studies(profile_path) as record:
        for scanned_study in scanned.studies:
            built = study_mod.build(scanned_study, version=1 if version1 else 2, previews=not no_previews)
            bar = Bar(f"study {scanned_study.uid[:40]}", built.size, progress and not as_json)
            record.progress = bar
            try:
                results.append(record.upload(built, signer=chosen))
            finally:
                bar.close()

    def text() -> None:
        for note in notes:
            click.echo(f"note: {note}", err=True)
        for r in results:
            for w in r.warnings:
                click.echo(f"warning: {w}", err=True)
            verb = "created" if r.created else "updated" if r.uploaded_blobs or r.resumed_blobs else "unchanged"
            click.echo(
                f"{r.study_uid}: {verb} thing {r.thing_id} ({r.series} series, {r.images} images, "
                f"{r.uploaded_blobs} blobs sent, {r.resumed_blobs} resumed{', signed' if r.signed else ''})"
            )

    emit(as_json, {"studies": [r.as_dict() for r in results], "notes": notes}, text)


@study.command("list")
@json_option
@profile_option
def study_list(as_json: bool, profile_path: Path | None) -> None:
    """List the studies in the record."""
    with studies(profile_path) as record:
        rows = record.summaries()

    def text() -> None:
        if not rows:
            click.echo("no studies")
        for r in rows:
            signed = " signed" if r.signed else ""
            click.echo(f"{r.date}  {r.study_uid}  {r.description or '-'}  {r.patient or '-'}  "
                       f"{r.series} series, {r.images} images, {r.bytes} bytes{signed}")

    emit(as_json, [r.as_dict() for r in rows], text)


@study.command("show")
@click.argument("uid")
@json_option
@profile_option
def study_show(uid: str, as_json: bool, profile_path: Path | None) -> None:
    """Show a study: its series, their images and sizes."""
    with needs_extra("imaging"):
        from hvgen_imaging.workflow import details

    with studies(profile_path) as record:
        info = details(record.require(uid))

    def text() -> None:
        click.echo(f"study {info.study_uid}  (thing {info.thing_id}, version {info.version}{', signed' if info.signed else ''})")
        click.echo(f"  date: {info.date}  patient: {info.patient or '-'}  description: {info.description or '-'}")
        for s in info.series_list:
            click.echo(f"  series {s.series_uid or '-'}: {s.modality or '-'} {s.body_part or ''} {s.description or ''}".rstrip())
            click.echo(f"    {len(s.images)} images, {s.bytes} bytes")
            for i in s.images:
                click.echo(f"      {i.name}  {i.bytes} bytes{'  (preview)' if i.preview else ''}")

    emit(as_json, info.as_dict(), text)


@study.command("download")
@click.argument("uid")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--previews", is_flag=True, help="Also save the JPEG previews.")
@json_option
@progress_option()
@profile_option
def study_download(uid: str, out: Path, previews: bool, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Download a study's DICOM files to OUT/<series-uid>/<sop-uid>.dcm.

    Every file is checked against its SHA256Block hash; a signed study's
    signature is verified against the downloaded bytes.
    """
    bar = Bar(f"study {uid[:40]}", None, progress and not as_json)
    try:
        with studies(profile_path, bar) as record:
            result = record.download(uid, out, previews=previews)
    finally:
        bar.close()

    def text() -> None:
        click.echo(f"{result.files} files, {result.bytes} bytes in {result.folder} (hashes checked)")
        if result.signature is not None:
            click.echo(f"signature: {result.signature}")

    emit(as_json, result.as_dict(), text)
    if not result.signature_valid:
        sys.exit(1)


@study.command("add-series")
@click.argument("uid")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@sign_options
@json_option
@progress_option()
@profile_option
def study_add_series(uid: str, folder: Path, sign: bool, key: Path | None, cert: Path | None, sha256: bool, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Add the series in FOLDER to study UID."""
    chosen = signer(sign, key, cert, sha256)
    bar = Bar("adding series", None, progress and not as_json)
    try:
        with studies(profile_path, bar) as record:
            result = record.add_series(uid, folder, signer=chosen)
    finally:
        bar.close()
    emit(as_json, result.as_dict(), lambda: click.echo(f"{uid}: now {result.series} series, {result.images} images (thing {result.thing_id})"))


@study.command("remove-series")
@click.argument("uid")
@click.argument("series_uid")
@sign_options
@json_option
@profile_option
def study_remove_series(uid: str, series_uid: str, sign: bool, key: Path | None, cert: Path | None, sha256: bool, as_json: bool, profile_path: Path | None) -> None:
    """Remove series SERIES_UID (and its blobs) from study UID."""
    chosen = signer(sign, key, cert, sha256)
    with studies(profile_path) as record:
        result = record.remove_series(uid, series_uid, signer=chosen)
    emit(as_json, result.as_dict(), lambda: click.echo(f"{uid}: now {result.series} series, {result.images} images"))


@study.command("delete")
@click.argument("uid")
@json_option
@profile_option
def study_delete(uid: str, as_json: bool, profile_path: Path | None) -> None:
    """Delete study UID (the thing is marked deleted)."""
    with studies(profile_path) as record:
        thing_id = record.delete(uid)
    emit(as_json, {"study_uid": uid, "thing_id": thing_id, "deleted": True}, lambda: click.echo(f"deleted study {uid} (thing {thing_id})"))
