"""The ``hvgen`` command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import BinaryIO

import click

from . import __version__


def _project_root() -> Path:
    """The checkout this package runs from, else the current folder."""
    here = Path(__file__).resolve().parents[2]
    if (here / "xsd").is_dir() and (here / "templates").is_dir():
        return here
    return Path.cwd()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hvgen")
def main() -> None:
    """Typed bindings, runtime and tools for the HealthVault imaging wire format.

    \b
    Build step:
      hvgen generate            compile xsd/ + templates/ into generated/
      hvgen generate --check    fail if generated/ is out of date
    Inspecting XML:
      hvgen roundtrip FILE      decode a thing, data-xml root, request or
                                response through the bindings and write it back
    """


@main.command()
@click.option(
    "--xsd",
    "xsd_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Schema folder to compile (default: the project's xsd/).",
)
@click.option(
    "--templates",
    "templates_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Template folder (default: the project's templates/).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder that holds the package (default: the project's generated/).",
)
@click.option(
    "--package",
    default="healthvault",
    show_default=True,
    help="Name of the generated Python package.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 and list the files that differ if the output is out of date.",
)
def generate(
    xsd_dir: Path | None,
    templates_dir: Path | None,
    out_dir: Path | None,
    package: str,
    check: bool,
) -> None:
    """Compile the schemas into typed dataclass bindings and the runtime.

    Every .xsd file under the schema folder is compiled (imports are followed
    and checked), rendered through the jinja2 templates and formatted with
    black. The output is deterministic: the same inputs give byte-identical
    files. Schema problems are reported as FILE:LINE: message.

    \b
    Examples:
      hvgen generate
      hvgen generate --check
      hvgen generate --xsd ../other/xsd --out /tmp/out --package otherpkg
    """
    from .codegen.compiler import Compiler, drift, write
    from .codegen.schemaset import SchemaError

    root = _project_root()
    xsd_dir = xsd_dir or root / "xsd"
    templates_dir = templates_dir or root / "templates"
    out_dir = out_dir or root / "generated"
    started = time.perf_counter()
    try:
        files = Compiler(xsd_dir, templates_dir, package).compile()
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    if check:
        changed = drift(files, out_dir, package)
        if changed:
            click.echo(f"{len(changed)} generated file(s) out of date:", err=True)
            for rel in changed:
                click.echo(f"  {out_dir / rel}", err=True)
            click.echo("Run `hvgen generate` and commit the result.", err=True)
            sys.exit(1)
        click.echo(f"generated/ is up to date ({len(files)} files)")
        return
    changed = write(files, out_dir, package)
    elapsed = time.perf_counter() - started
    click.echo(
        f"{len(files)} files in {out_dir / package}, {len(changed)} changed ({elapsed:.2f}s)"
    )


@main.command()
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
