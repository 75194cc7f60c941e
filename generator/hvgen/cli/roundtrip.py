"""``hvgen roundtrip``: decode XML through the bindings and write it back."""

from __future__ import annotations

import sys
from typing import BinaryIO

import click


@click.command()
@click.argument("file", type=click.File("rb"))
@click.option(
    "--pretty/--wire",
    default=False,
    help="Indent the output for reading (default: exact wire form, no indentation).",
)
def roundtrip(file: BinaryIO, pretty: bool) -> None:
    """Decode FILE through the bindings and write it back to stdout.

    FILE may hold a <thing>, a bare data-xml root such as
    <medical-image-study>, a <wc-request:request> or a <response>; use - for
    standard input. Invalid or hostile XML (DTDs, entities, external
    references) is refused with a one-line error and exit status 1.
    """
    from healthvault import codec
    from healthvault.errors import HealthVaultXmlError

    data = file.read()
    try:
        obj = codec.read_document(data)
        out = codec.write_document(obj, pretty=pretty)
    except HealthVaultXmlError as exc:
        raise click.ClickException(str(exc)) from None
    sys.stdout.buffer.write(out)
    if not out.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")
