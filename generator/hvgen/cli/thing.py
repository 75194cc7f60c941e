"""``hvgen thing``: sign and verify things."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import click


@click.group()
def thing() -> None:
    """Sign and verify things (HVSignatureMethod2).

    \b
    Examples:
      hvgen thing sign study.xml --key key.pem --cert cert.pem --blob scan=scan.dcm -o signed.xml
      hvgen thing verify signed.xml --blob scan=scan.dcm --trust ca.pem
    """


def _blob_options(values: tuple[str, ...]) -> dict[str, Path]:
    blobs: dict[str, Path] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not path:
            raise click.BadParameter(f"{value!r}: use NAME=FILE (an empty NAME is the default blob)", param_hint="--blob")
        if not Path(path).is_file():
            raise click.BadParameter(f"{path}: no such file", param_hint="--blob")
        blobs[name] = Path(path)
    return blobs


@thing.command("sign")
@click.argument("thing_file", metavar="THING.xml", type=click.File("rb"))
@click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Signer's RSA private key (PEM).")
@click.option("--cert", "cert_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Signer's certificate (PEM).")
@click.option("--blob", "blob_values", multiple=True, metavar="NAME=FILE", help="Bytes of a streamed blob (repeatable).")
@click.option("--sha256", is_flag=True, help="RSA-SHA256 with a SHA-256 digest instead of the default RSA-SHA1.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of stdout.")
def thing_sign(thing_file: BinaryIO, key_path: Path, cert_path: Path, blob_values: tuple[str, ...], sha256: bool, output: Path | None) -> None:
    """Sign THING.xml; writes the signed thing.

    Blobs are covered by their SHA256Block hashes: a streamed blob's from
    the file given with --blob (or the hash-info it already carries), an
    inline blob's from its base64data.
    """
    from healthvault import crypto, signing
    from healthvault.errors import HealthVaultError

    try:
        signed = signing.sign(
            thing_file.read(),
            crypto.load_private_key(key_path),
            crypto.load_certificate(cert_path),
            blobs=_blob_options(blob_values),  # type: ignore[arg-type]
            algorithm="rsa-sha256" if sha256 else "rsa-sha1",
        )
    except (HealthVaultError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if output:
        output.write_bytes(signed)
    else:
        sys.stdout.buffer.write(signed + b"\n")


@thing.command("verify")
@click.argument("thing_file", metavar="THING.xml", type=click.File("rb"))
@click.option("--blob", "blob_values", multiple=True, metavar="NAME=FILE", help="Bytes of a streamed blob (repeatable).")
@click.option("--trust", "trust_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None, help="PEM trust store: the signer must be one of these or issued by one.")
@click.option("--fetch/--no-fetch", default=False, help="Download streamed blobs without --blob from their URLs.")
def thing_verify(thing_file: BinaryIO, blob_values: tuple[str, ...], trust_path: Path | None, fetch: bool) -> None:
    """Verify THING.xml's signature. Exit status 0 only when it is valid;
    otherwise every failing part is printed (data-xml/sig-data, sig-data,
    a named blob, signature value, certificate)."""
    from healthvault import signing
    from healthvault.errors import HealthVaultError

    fetcher = None
    if fetch:
        import httpx

        def fetcher(url: str) -> Any:
            with httpx.stream("GET", url, timeout=60) as response:
                response.raise_for_status()
                yield from response.iter_bytes(1024 * 1024)

    try:
        result = signing.verify(
            thing_file.read(),
            blobs=_blob_options(blob_values),  # type: ignore[arg-type]
            trust=signing.load_trust(trust_path) if trust_path else None,
            fetch=fetcher,
        )
    except (HealthVaultError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if result.valid:
        click.echo(result.summary())
        return
    click.echo("signature NOT valid:", err=True)
    for problem in result.problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(1)
