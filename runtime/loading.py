"""Use a package that ``hvgen generate`` produced, from its folder.

``hvgen roundtrip --bindings DIR`` reads and writes through the package in
DIR, and ``hvgen serve --schemas DIR`` compiles a schema folder and loads
the result: both import a generated package from a path, under a private
module name, so that it can sit beside the ``healthvault`` package (even if
it has the same name) without either replacing the other.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from .errors import HealthVaultError


class NotAGeneratedPackage(HealthVaultError):
    """The folder is not a package that ``hvgen generate`` produced."""


def load_generated(folder: Path) -> ModuleType:
    """The generated package in ``folder`` (the package folder itself)."""
    folder = folder.resolve()
    init = folder / "__init__.py"
    if not init.is_file() or not (folder / "binding.py").is_file() or not (folder / "schema.py").is_file():
        raise NotAGeneratedPackage(
            f"{folder} is not a package made by hvgen generate (no __init__.py, binding.py and schema.py)"
        )
    name = "_hvgen_bindings_" + hashlib.sha256(str(folder).encode("utf-8")).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    if spec is None or spec.loader is None:
        raise NotAGeneratedPackage(f"cannot load {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def submodule(package: ModuleType, name: str) -> ModuleType:
    """A module of a loaded generated package, such as ``codec``."""
    return importlib.import_module(f"{package.__name__}.{name}")
