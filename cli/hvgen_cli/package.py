"""``hvgen package``: drop off and pick up encrypted packages."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import (
    alias,
    aliased,
    client,
    emit,
    json_option,
    needs_extra,
    profile_option,
    progress_option,
    reported,
    require_extra,
    showing,
)
from .failures import on_interrupt
from .studytext import plural
from .terminal import Progress, echo_err

if TYPE_CHECKING:
    from healthvault.client import HealthVaultClient


@click.group()
def package() -> None:
    """Drop-off and pick-up: studies for someone without access to the record.

    \b
    Examples:
      hvgen package create ./CT_HEAD --question "Your clinic?" --answer "st. mary" --friendly-name "CT 2024-05-17"
      hvgen package pickup ABCD-EFGH-IJKL-MNOP-QRST --answer "st. mary"
    """


@package.command("create")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option("--question", required=True, help="Question shown at pick-up.")
@click.option("--answer", required=True, help="Its answer (at least 6 characters; case does not matter).")
@click.option(
    "--friendly-name", "friendly_name", default=None, help="Name of the package, shown at pick-up (required)."
)
@alias("--name", "friendly_name")
@click.option("--external-id", default=None, help="Your own id for the package (default: a new GUID).")
@click.option("--v1", "version1", is_flag=True, help="Medical image study version 1.")
@click.option(
    "--anonymize",
    is_flag=True,
    help="De-identify the files first (DICOM basic application confidentiality profile, PS3.15 Annex E); "
    "UIDs are replaced consistently within each study.",
)
@json_option
@progress_option()
@profile_option
@click.pass_context
def package_create(
    ctx: click.Context,
    folder: Path,
    question: str,
    answer: str,
    friendly_name: str | None,
    external_id: str | None,
    version1: bool,
    anonymize: bool,
    as_json: bool,
    progress: bool,
    profile_path: Path | None,
) -> None:
    """Put the DICOM studies under FOLDER in an encrypted package; prints its id.

    Every DICOM file and preview is encrypted chunk by chunk on the way
    (Rijndael-256, key from the answer), so the platform never sees them in
    the clear until the package is picked up. With --anonymize the package
    holds de-identified copies (the files in FOLDER are left as they are).
    """
    friendly_name = aliased(ctx, "friendly_name", friendly_name)
    if not friendly_name:
        raise click.UsageError("Missing option '--friendly-name'.")
    require_extra("imaging")
    with (
        reported(OSError),
        client(profile_path) as hv,  # the platform first: nothing is scanned or rendered for one that is down
        tempfile.TemporaryDirectory(prefix="hvgen-package-") as staging,
    ):
        on_interrupt(NOT_MADE)
        _create(
            hv,
            folder,
            question,
            answer,
            friendly_name,
            external_id,
            version1,
            anonymize,
            as_json,
            progress,
            Path(staging),
        )


#: What Ctrl-C leaves of ``package create``, before and after its blobs are all sent.
NOT_MADE = "no package was made; run the same command again to make it (from the start)"
MAYBE_MADE = (
    "the package may have been made, but its id was not received: run the same command again to make another "
    "(give the id it prints)"
)


def _create(
    hv: HealthVaultClient,
    folder: Path,
    question: str,
    answer: str,
    friendly_name: str,
    external_id: str | None,
    version1: bool,
    anonymize: bool,
    as_json: bool,
    progress: bool,
    staging: Path,
) -> None:
    with needs_extra("imaging"):
        from hvgen_imaging import packages
        from hvgen_imaging import study as study_mod

    from .studyshared import scan
    from .studytext import skipped_json, skipped_lines

    show = showing(progress, as_json)
    scanned = scan(folder, show)
    if not as_json:
        for line in skipped_lines(scanned):
            echo_err(line)
    skipped = skipped_json(scanned)
    anonymized: list[str] = []
    if anonymize:
        from hvgen_imaging.anonymize import anonymize_scan

        with reported(OSError, doing="de-identify"):
            anonymized = anonymize_scan(scanned, staging).summary()
        scanned = scan(staging, False)
        if not as_json:
            for note in anonymized:
                echo_err(f"note: {note}")
    built: list[study_mod.BuiltStudy] = []
    for s in scanned.studies:
        with Progress(
            f"previews ({len(built) + 1}/{len(scanned.studies)})", enabled=show, unit="image", transient=True
        ) as bar:
            built.append(study_mod.build(s, version=1 if version1 else 2, progress=bar))
    if not as_json:
        for b in built:
            for w in b.warnings:
                echo_err(f"note: {w}")
    size = sum(b.size for b in built)
    if not as_json:
        from healthvault import rijndael

        if not rijndael.available():
            echo_err(
                f"note: numba is not installed: {size / 1e6:.1f} MB are encrypted at under 1 MB/s "
                "(pip install 'hvgen[jit]' for about 100 MB/s)"
            )
    with Progress("packaging", enabled=show, total=size) as bar:

        def packaging(done: int, total: int | None = None) -> None:
            bar(done, total)
            if done >= size:  # every blob is in: the package itself is being made
                on_interrupt(MAYBE_MADE)

        code = packages.create(
            hv,
            built,
            question=question,
            answer=answer,
            friendly_name=friendly_name,
            external_id=external_id,
            progress=packaging,
        )
    result = {
        "package_id": code,
        "studies": [b.data.study_instance_uid for b in built],
        "images": sum(len(b.images) for b in built),
        "skipped": skipped,
        "notes": scanned.warnings + [w for b in built for w in b.warnings] + anonymized,
    }
    if anonymize:
        result["anonymized"] = True
    emit(as_json, result, lambda: click.echo(f"package id: {code}"))


@package.command("pickup")
@click.argument("package_id")
@click.option("--answer", required=True, help="The answer to the package's question.")
@json_option
@progress_option()
@profile_option
def package_pickup(package_id: str, answer: str, as_json: bool, progress: bool, profile_path: Path | None) -> None:
    """Open package PACKAGE_ID with ANSWER and add its studies to the record.

    A wrong answer adds nothing; three wrong answers lock the package. The
    platform decrypts the package as a job; this command follows it (run
    it again after an interruption to continue following the same job).
    """
    require_extra("imaging")
    with reported(OSError), client(profile_path) as hv:  # the platform first, before the imaging modules load
        with needs_extra("imaging"):
            from hvgen_imaging import packages
        on_interrupt("run the same command again to go on following the pick-up where it stopped")
        with Progress("picking up", enabled=showing(progress, as_json)) as bar:
            picked = packages.pick_up_outcomes(hv, package_id, answer, progress=bar)
        with needs_extra("imaging"):
            from hvgen_imaging.workflow import Studies
        found = {s.thing_id: s for s in Studies(hv).summaries([k.value for k in picked.keys])} if picked.keys else {}
    result = {"package_id": package_id, **picked.as_dict(), "studies": [s.as_dict() for s in found.values()]}
    said = {
        "created": "added",
        "merged": "merged into the study the record held (the series and images it lacked)",
        "merged-signature-removed": "merged into the study the record held; its signature, which did not cover "
        "what was added, was removed",
        "unchanged": "already in the record: nothing added",
    }

    def text() -> None:
        added = [k.value for k, o in zip(picked.keys, picked.outcomes, strict=True) if o == "created"]
        click.echo(f"added {len(added)} thing(s)")
        for key, outcome in zip(picked.keys, picked.outcomes, strict=True):
            summary = found.get(key.value)
            about = (
                f"study {summary.study_uid or '-'}: patient {summary.patient or '-'}, {summary.series} series, "
                f"{plural(summary.images, 'image')} (thing {key.value})"
                if summary is not None
                else f"thing {key.value}"
            )
            click.echo(f"{about}: {said.get(outcome, outcome)}")

    emit(as_json, result, text)
