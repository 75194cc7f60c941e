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
    help="Folder of the hand-written runtime modules copied into the package (default: the project's runtime/).",
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
@click.option(
    "--strict",
    is_flag=True,
    help="Make every schema problem an error (by default they are warnings, and "
    "schemas that cannot be compiled are left out).",
)
def generate(
    xsd_dir: Path | None,
    templates_dir: Path | None,
    runtime_dir: Path | None,
    out_dir: Path | None,
    package: str,
    check: bool,
    strict: bool,
) -> None:
    """Compile the schemas into typed bindings and the runtime.

    Every .xsd file under the schema folder is compiled (imports are followed
    and checked), rendered through the jinja2 templates and formatted with
    ruff. The output is deterministic: the same inputs give byte-identical
    files.

    Schema problems are all reported at once, as FILE:LINE: message
    warnings; a schema that cannot be compiled (and every schema that imports
    it) is left out and listed, and the rest is generated. The W3C XML and
    XML Signature schemas ship with hvgen and stand in for missing imports of
    their namespaces. With --strict, any problem is an error.

    The project's xsd/, templates/ and runtime/ are those of the source
    checkout hvgen is installed from (editable install), else the copies
    installed with hvgen.

    \b
    Examples:
      hvgen generate
      hvgen generate --check
      hvgen generate --xsd ../other/xsd --out /tmp/out --package otherpkg
      hvgen generate --xsd catalog/xsd --out /tmp/out --package hvcat
    """
    from hvgen.sources import SourcesNotFound, locate

    with needs_extra("generate"):
        from jinja2 import TemplateError

        from hvgen.codegen.compiler import Compiler, drift, write
        from hvgen.errors import SchemaError, SchemaSetError

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
    compiler = Compiler(xsd_dir, templates_dir, runtime_dir, package, strict=strict)
    try:
        files = compiler.compile()
    except SchemaSetError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise click.ClickException(f"{len(exc.problems)} schema problem(s); nothing was generated") from None
    except SchemaError as exc:
        raise click.ClickException(str(exc)) from None
    except TemplateError as exc:
        raise click.ClickException(f"{templates_dir}: {exc}") from None
    _report(compiler)
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
    click.echo(f"{len(files)} files in {out_dir / package}, {len(changed)} changed ({elapsed:.2f}s)")


def _report(compiler: object) -> None:
    """Schema warnings, schemas left out, runtime modules left out (stderr)."""
    problems = getattr(compiler, "problems", [])
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    excluded: dict[Path, str] = getattr(compiler, "excluded", {})
    if excluded:
        click.echo(f"{len(excluded)} schema(s) left out:", err=True)
        for path, why in sorted(excluded.items()):
            click.echo(f"  {path.name}: {why}", err=True)
    left_out: list[tuple[str, str]] = getattr(compiler, "left_out", [])
    for name, why in left_out:
        click.echo(f"note: runtime module {name} left out: {why}", err=True)
