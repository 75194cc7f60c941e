"""``hvgen roundtrip``: decode XML through the bindings and write it back."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import click

from .common import emit, json_option


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
@click.option(
    "--strict",
    is_flag=True,
    default=False,
    help="Refuse the document (exit status 1, with the path and line) for any problem "
    "its schema would refuse, instead of keeping it as read with a warning.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of standard output.",
)
@json_option
def roundtrip(
    file: BinaryIO, pretty: bool, bindings_dir: Path | None, strict: bool, output: Path | None, as_json: bool
) -> None:
    """Decode FILE through the bindings and write it back to stdout.

    FILE may hold a <thing>, a bare data-xml root such as
    <medical-image-study>, a <wc-request:request> or a <response>; use - for
    standard input. Invalid or hostile XML (DTDs, entities, external
    references) is refused with a one-line error and exit status 1. Content
    no binding class holds is kept as raw XML, with a warning; with
    --strict, anything the schemas refuse (a missing element, a value out of
    range, an xsi:nil where none is allowed...) is an error naming its path
    and line, exit status 1. What is around the root (XML declaration,
    comments, processing instructions) is written back as read.
    With --json: the document's kind, whether the output equals the input
    byte for byte, and the XML.

    \b
    Examples:
      hvgen roundtrip study.xml
      hvgen roundtrip --strict thing.xml
      hvgen generate --xsd catalog/xsd --out /tmp/cat --package hvcat
      hvgen roundtrip --bindings /tmp/cat/hvcat weight.xml
    """
    if bindings_dir is not None:
        from healthvault.loading import NotAGeneratedPackage, load_generated, submodule

        try:
            package = load_generated(bindings_dir)
        except NotAGeneratedPackage as exc:
            raise click.ClickException(str(exc)) from None
        if not (bindings_dir / "codec.py").is_file():
            raise click.ClickException(
                f"the package in {bindings_dir} has no codec: its schema set lacks the thing and "
                "method schemas (its __init__.py lists what was left out)"
            )
        codec = submodule(package, "codec")
        HealthVaultXmlError = submodule(package, "errors").HealthVaultXmlError  # noqa: N806
    else:
        from healthvault import codec
        from healthvault.errors import HealthVaultXmlError

    from .thing import write_out

    data = file.read()
    try:
        obj = codec.read_document(data, strict=strict)
        out = codec.write_document(obj, pretty=pretty)
    except HealthVaultXmlError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        if output is not None:
            write_out(out, output)
        emit(
            True,
            {
                "file": file.name,
                "kind": type(obj).__name__,
                "bytes_in": len(data),
                "bytes_out": len(out),
                "identical": out == data,
                "output": str(output) if output else None,
                "xml": None if output else out.decode("utf-8"),
            },
            lambda: None,
        )
        return
    write_out(out, output)
