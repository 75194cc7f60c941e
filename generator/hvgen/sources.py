"""Where ``hvgen generate`` finds its inputs: schemas, templates and runtime.

An installed ``hvgen`` ships copies of the project's ``xsd/``,
``templates/`` and ``runtime/`` folders as package data (``hvgen/data``);
``hvgen generate`` compiles those into ``./generated``. Run from a source
checkout (an editable install), there is no package data: the checkout's
own folders are compiled into the checkout's ``generated/``, which is what
the project commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .errors import GeneratorError

INPUTS = ("xsd", "templates", "runtime")


class SourcesNotFound(GeneratorError):
    """Neither shipped package data nor a source checkout was found."""


@dataclass(frozen=True)
class Sources:
    """The default inputs and output folder of ``hvgen generate``."""

    xsd: Path
    templates: Path
    runtime: Path
    out: Path
    #: The source checkout, when hvgen runs from one.
    checkout: Path | None = None


def shipped() -> Path | None:
    """The package-data folder of an installed hvgen, if it has one."""
    data = resources.files("hvgen") / "data"
    if isinstance(data, Path) and all((data / name).is_dir() for name in INPUTS):
        return data
    return None


def checkout() -> Path | None:
    """The source checkout hvgen is installed from in editable mode, if any.

    Read from the install's ``direct_url.json`` (PEP 610); the checkout must
    hold the three input folders and the ``hvgen`` package being run.
    """
    package = Path(str(resources.files("hvgen"))).resolve()
    # Several may be found (a checkout's own hvgen.egg-info, when run from
    # there): the editable install is the one that records its source.
    for dist in metadata.distributions(name="hvgen"):
        root = _editable_root(dist.read_text("direct_url.json"))
        if root is None or not all((root / name).is_dir() for name in INPUTS):
            continue
        if package.is_relative_to(root.resolve()):
            return root
    return None


def _editable_root(direct_url: str | None) -> Path | None:
    try:
        info = json.loads(direct_url or "")
    except ValueError:
        return None
    if not isinstance(info, dict) or not (info.get("dir_info") or {}).get("editable"):
        return None
    url = urlsplit(str(info.get("url", "")))
    return Path(unquote(url.path)) if url.scheme == "file" else None


def locate() -> Sources:
    """The inputs and output of ``hvgen generate`` when no folder is given."""
    data = shipped()
    if data is not None:
        return Sources(data / "xsd", data / "templates", data / "runtime", Path("generated"))
    root = checkout()
    if root is not None:
        return Sources(root / "xsd", root / "templates", root / "runtime", root / "generated", root)
    raise SourcesNotFound(
        "this hvgen has neither its schemas, templates and runtime as package data nor a "
        "source checkout to take them from; give --xsd, --templates and --runtime"
    )
