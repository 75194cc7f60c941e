"""``hvgen roundtrip``: decode XML through the bindings and write it back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import click


@click.command()
@click.argument("file", type=click.File("rb"))
@click.option(
    "--pretty/--wire",
    default=False,
    help="Indent the output for reading (default: exact wire form, no indentation).",
)
@click.option(
    "--bindings",
    "bindings_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A package made by `hvgen generate` (its folder) to read and write "
    "through, instead of the installed healthvault package.",
)
def roundtrip(file: BinaryIO, pretty: bool, bindings_dir: Path | None) -> None:
    """Decode FILE through the bindings and write it back to stdout.

    FILE may hold a <thing>, a bare data-xml root such as
    <medical-image-study>, a <wc-request:request> or a <response>; use - for
    standard input. Invalid or hostile XML (DTDs, entities, external
    references) is refused with a one-line error and exit status 1.

    \b
    Examples:
      hvgen roundtrip study.xml
      hvgen generate --xsd catalog/xsd --out /tmp/cat --package hvcat
      hvgen roundtrip --bindings /tmp/cat/hvcat weight.xml
    """
    if bindings_dir is not None:
        from ..loading import NotAGeneratedPackage, load_generated, submodule

        try:
            package = load_generated(bindings_dir)
        except NotAGeneratedPackage as exc:
            raise click.ClickException(str(exc)) from None
        codec = submodule(package, "codec")
        HealthVaultXmlError = submodule(package, "errors").HealthVaultXmlError  # noqa: N806
    else:
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
