"""Schema sets compiled for the local platform (``hvgen serve --schemas DIR``).

The platform accepts the thing types of the ``healthvault`` package; a
schema folder given to ``hvgen serve`` (the published catalog, or a user's
own thing types) is compiled by the build step into a package of its own,
kept under the store folder (``DATA/schemas/``) and loaded by the server.
The compilation is cached, so a server restarted on the same folder loads
it at once; a changed folder is compiled again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from healthvault.loading import load_generated, submodule

from .errors import GeneratorError
from .sources import locate

#: Name of the package each schema folder is compiled into.
PACKAGE = "hvschemas"


class SchemaFolderError(GeneratorError):
    """A schema folder could not be compiled at all."""


@dataclass
class CompiledSchemas:
    """A schema folder compiled for the server."""

    source: Path
    package_dir: Path  # the package folder the server loads
    thing_types: int  # thing types the package knows
    problems: list[str] = field(default_factory=list)  # FILE:LINE warnings
    left_out: list[str] = field(default_factory=list)  # schema files left out, with why
    changed: bool = False  # written anew (not as the last run left it)


def package_home(xsd_dir: Path, data_dir: Path) -> Path:
    """Where the package of ``xsd_dir`` is kept under ``data_dir``."""
    resolved = xsd_dir.resolve()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", resolved.name).strip("-") or "schemas"
    digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:10]
    return data_dir / "schemas" / f"{slug}-{digest}"


def compile_for_server(xsd_dir: Path, data_dir: Path) -> CompiledSchemas:
    """Compile ``xsd_dir`` (unless its package is up to date) and load it.

    Raises:
        SchemaFolderError: Nothing in the folder can be compiled, or the
            result does not load.
    """
    from .codegen.compiler import Compiler, drift, write
    from .errors import SchemaError

    if not xsd_dir.is_dir():
        raise SchemaFolderError(f"{xsd_dir} is not a folder")
    if not any(xsd_dir.rglob("*.xsd")):
        raise SchemaFolderError(f"{xsd_dir} holds no .xsd files")
    sources = locate()
    compiler = Compiler(xsd_dir, sources.templates, sources.runtime, PACKAGE)
    try:
        files = compiler.compile()
    except SchemaError as exc:
        raise SchemaFolderError(f"{xsd_dir}: {exc}") from None
    home = package_home(xsd_dir, data_dir)
    changed = bool(drift(files, home, PACKAGE))
    if changed:
        write(files, home, PACKAGE)
    package_dir = home / PACKAGE
    try:
        package = load_generated(package_dir)
        registry = submodule(package, "registry")
    except Exception as exc:  # the folder is named with the reason
        raise SchemaFolderError(f"the package compiled from {xsd_dir} does not load: {exc}") from None
    return CompiledSchemas(
        source=xsd_dir,
        package_dir=package_dir,
        thing_types=len(registry.THING_TYPES),
        problems=[str(p) for p in compiler.problems],
        left_out=[f"{path.name}: {why}" for path, why in sorted(compiler.excluded.items())],
        changed=changed,
    )
