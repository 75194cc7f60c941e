"""What the ``hvgen study`` commands share: the signing options, the
record's studies through a connected client, and scanning a folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .common import client, needs_extra, reported, require_extra
from .studytext import plural, skipped_lines
from .terminal import Progress, echo_err

if TYPE_CHECKING:
    from hvgen_imaging.dicom import ScanResult
    from hvgen_imaging.workflow import Signer, Studies


#: A signer's key, certificate and algorithm, read before anything else is done.
SigningKey = tuple[Any, Any, str]


def signing_key(sign: bool, key: Path | None, cert: Path | None, sha256: bool) -> SigningKey | None:
    """What the --sign, --key, --cert and --sha256 options ask for, checked
    and read (a usage or file error ends the command before any other work)."""
    if not sign:
        if key or cert:
            raise click.UsageError("--key and --cert go with --sign")
        return None
    if not key or not cert:
        raise click.UsageError("--sign needs --key and --cert")
    loaded_key, loaded_cert = signing_pair(key, cert)
    return loaded_key, loaded_cert, "rsa-sha256" if sha256 else "rsa-sha1"


def signing_pair(key: Path, cert: Path) -> tuple[Any, Any]:
    """The private key and the certificate of --key and --cert, read and checked to go
    together (a signature made with the key must verify with the certificate)
    before any other work is done."""
    from healthvault import crypto

    with reported(OSError, ValueError, doing="read"):
        loaded_key, loaded_cert = crypto.load_private_key(key), crypto.load_certificate(cert)
    if not crypto.key_fits(loaded_key, loaded_cert):
        raise click.BadParameter(
            f"the certificate {cert} is not of the key {key} (its public key is another): "
            "signatures made with this key would not verify",
            param_hint="'--key' / '--cert'",
        )
    return loaded_key, loaded_cert


def signer(chosen: SigningKey | None) -> Signer | None:
    """The signer of :func:`signing_key`'s answer."""
    if chosen is None:
        return None
    with needs_extra("imaging"):
        from hvgen_imaging.workflow import Signer

    return Signer(*chosen)


def sign_options(f: Any) -> Any:
    f = click.option("--sha256", is_flag=True, help="Sign with RSA-SHA256 instead of RSA-SHA1.")(f)
    f = click.option(
        "--cert",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Signer's certificate (PEM).",
    )(f)
    f = click.option(
        "--key",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Signer's RSA private key (PEM).",
    )(f)
    f = click.option("--sign", is_flag=True, help="Sign the study (needs --key and --cert).")(f)
    return f


def change_options(f: Any) -> Any:
    """--sign..., --unsigned-ok and --thing: the options of commands that change a stored study."""
    f = click.option(
        "--thing",
        "thing_id",
        metavar="THING_ID",
        default=None,
        help="The study's thing id (needed when the record holds several studies with this UID).",
    )(f)
    f = click.option(
        "--unsigned-ok", is_flag=True, help="Change a signed study without signing it again: its signature is removed."
    )(f)
    return sign_options(f)


#: What Ctrl-C leaves of an upload: the journal makes running it again resume.
RESUMES = "run the same command again to resume the upload where it stopped"


thing_option = click.option(
    "--thing",
    "thing_id",
    metavar="THING_ID",
    default=None,
    help="The study's thing id (needed when the record holds several studies with this UID).",
)


@contextmanager
def studies(
    profile_path: Path | None, bar: Any = None, *, duplicates_hint: str = "--thing THING_ID"
) -> Iterator[Studies]:
    """The record's studies, through a client that is closed afterwards (it
    connects before the imaging modules are even imported: a platform that
    is not there is known at once); library and file errors become one-line
    messages."""
    require_extra("imaging")
    with reported(OSError), client(profile_path) as hv:
        with needs_extra("imaging"):
            from hvgen_imaging.workflow import DuplicateStudies, Studies
        try:
            yield Studies(hv, progress=bar)
        except DuplicateStudies as exc:
            raise click.ClickException(f"{exc} ({duplicates_hint})") from None


def scan(folder: Path, show: bool) -> ScanResult:
    """Scan ``folder`` with a file-count bar; a folder that cannot be read
    at all, or holds no DICOM file, ends the command with one line."""
    with needs_extra("imaging"):
        from hvgen_imaging import dicom

    with Progress("scanning", enabled=show, unit="file", transient=True, start=True) as bar:
        with reported(OSError, doing="read"):
            scanned = dicom.scan(folder, progress=bar)
    if not scanned.studies:
        for line in skipped_lines(scanned):
            echo_err(line)
        raise click.ClickException(
            f"no DICOM files under {folder}"
            + (f" ({plural(len(scanned.skipped), 'file')} skipped, see above)" if scanned.skipped else "")
        )
    return scanned
