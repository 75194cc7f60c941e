"""``hvgen generate``: the build step."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .common import needs_extra

_folder = click.Path(file_okay=False, path_type=Path)
_input = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.option(
    "--xsd",
    "xsd_dir",
    type=_folder,
    default=None,
    help="Schema folder to compile (default: the project's xsd/).",
)
@click.option(
    "--templates",
    "templates_dir",
    type=_input,
    default=None,
    help="Template folder (default: the project's templates/).",
)
@click.option(
    "--runtime",
    "runtime_dir",
    type=_input,
    default=None,
    help="Folder of the hand-written runtime modules copied into the package "
    "(default: the project's runtime/).",
)
@click.option(
    "--out",
    "out_dir",
    type=_folder,
    default=None,
    help="Output folder that holds the package (default: the checkout's generated/ "
    "when hvgen is installed from a source checkout, else ./generated).",
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
    runtime_dir: Path | None,
    out_dir: Path | None,
    package: str,
    check: bool,
) -> None:
    """Compile the schemas into typed dataclass bindings and the runtime.

    Every .xsd file under the schema folder is compiled (imports are followed
    and checked), rendered through the jinja2 templates and formatted with
    black. The output is deterministic: the same inputs give byte-identical
    files. Schema problems are reported as FILE:LINE: message.

    The project's xsd/, templates/ and runtime/ are those of the source
    checkout hvgen is installed from (editable install), else the copies
    installed with hvgen.

    \b
    Examples:
      hvgen generate
      hvgen generate --check
      hvgen generate --xsd ../other/xsd --out /tmp/out --package otherpkg
    """
    from ..sources import SourcesNotFound, locate

    with needs_extra("generate"):
        from jinja2 import TemplateError

        from ..codegen.compiler import Compiler, drift, write
        from ..codegen.schemaset import SchemaError

    if None in (xsd_dir, templates_dir, runtime_dir, out_dir):
        try:
            found = locate()
        except SourcesNotFound as exc:
            raise click.ClickException(str(exc)) from None
        xsd_dir = xsd_dir or found.xsd
        templates_dir = templates_dir or found.templates
        runtime_dir = runtime_dir or found.runtime
        out_dir = out_dir or found.out
    assert xsd_dir and templates_dir and runtime_dir and out_dir
    started = time.perf_counter()
    try:
        files = Compiler(xsd_dir, templates_dir, runtime_dir, package).compile()
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    except TemplateError as exc:
        raise click.ClickException(f"{templates_dir}: {exc}") from None
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
