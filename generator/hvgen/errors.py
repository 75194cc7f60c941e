"""The root of the build step's exceptions, and problems located by file and line.

Every exception ``hvgen`` raises on purpose derives from
:class:`GeneratorError` (the package docstring draws the tree).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class GeneratorError(Exception):
    """Base class of every error the build step raises on purpose."""


class SchemaError(GeneratorError):
    """A problem in a schema set, located by file and line."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class SchemaProblem:
    """A problem found in a schema file. A fatal one leaves the file out."""

    path: Path
    line: int | None
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class SchemaSetError(SchemaError):
    """Every problem of a schema set, when none may be tolerated (``strict``)."""

    def __init__(self, problems: list[SchemaProblem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(first.path, first.line, first.message)
        self.args = ("\n".join(str(p) for p in problems),)
