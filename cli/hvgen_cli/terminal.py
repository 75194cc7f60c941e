"""What the commands print on stderr besides their errors: progress bars
and one-line notes and warnings.

Progress bars are tqdm's: it has no dependencies of its own, draws bars of
known and unknown length (a count and a rate when the total is unknown),
and its ``tqdm.write`` prints a line above the bars without breaking them.
Bars go to stderr, only when stderr is a terminal, and never with
``--json`` or ``--no-progress``; standard output carries only results.
A bar that Ctrl-C interrupts stays as it was last drawn (the line that
says so is :mod:`.failures`').

Python warnings raised while a command runs (pydicom's, the codec's
``HealthVaultDecodeWarning``...) are printed as one ``warning: ...`` line
each, never as Python's two-line ``file:line: Category: ...`` form.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from tqdm import tqdm

__all__ = ["Progress", "echo_err", "one_line", "stderr_is_terminal", "warnings_as_messages"]


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _size_options() -> dict[str, Any]:
    """Follow the terminal's size; a terminal that reports none (a fresh
    pseudo-terminal says 0 x 0, on which tqdm would draw nothing) gets
    $COLUMNS x $LINES or 80 x 24."""
    try:
        size = os.get_terminal_size(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        size = os.terminal_size((0, 0))
    if size.columns > 0 and size.lines > 0:
        return {"dynamic_ncols": True}
    fallback = shutil.get_terminal_size()
    return {"ncols": fallback.columns, "nrows": fallback.lines}


def one_line(text: object) -> str:
    """``text`` on one line, whole (no cutting)."""
    return " ".join(str(text).split())


def echo_err(line: str) -> None:
    """Print a line on stderr, above any progress bar that is showing."""
    if getattr(tqdm, "_instances", None):
        tqdm.write(line, file=sys.stderr)
    else:
        click.echo(line, err=True)


#: How a bar of counted things (not bytes) whose total is not known yet reads.
COUNTING = "{desc}: {n_fmt} {unit} [{elapsed}]"


class Progress:
    """A progress bar on stderr, fed as ``progress(done, total)``.

    ``done`` is the count so far (bytes, or files with ``unit="file"``);
    ``total`` may be None (unknown) and may change between calls. The bar
    opens at the first report, or at once with ``start=True`` (for work
    whose first report may take a while, such as scanning a big folder).
    A transient bar disappears when it is done. A disabled bar does nothing.
    """

    def __init__(
        self,
        label: str,
        *,
        enabled: bool,
        total: int | None = None,
        unit: str = "B",
        transient: bool = False,
        start: bool = False,
    ) -> None:
        self.label = label
        self.enabled = enabled and stderr_is_terminal()
        self.total = total
        self.unit = unit
        self.transient = transient
        self.bar: Any = None
        self.finished = False
        if start:
            self._open(total)

    def _open(self, total: int | None) -> None:
        if not self.enabled or self.bar is not None:
            return
        options: dict[str, Any] = {"unit_scale": True, "unit_divisor": 1024} if self.unit == "B" else {}
        if self.unit != "B" and total is None:  # a count so far: "scanning: 12 files"
            options.update(bar_format=COUNTING, unit=self.unit + "s")
        self.bar = tqdm(
            desc=self.label,
            total=total,
            file=sys.stderr,
            leave=not self.transient,
            **_size_options(),
            **({"unit": self.unit} | options),
        )

    def __call__(self, done: int, total: int | None = None) -> None:
        if not self.enabled or self.finished:
            return
        total = total if total is not None else self.total
        if self.bar is None:
            self._open(total)
        if total is not None and self.bar.total != total:
            self.bar.total = total
            self.bar.bar_format = None  # a known total: a bar, percentage and rate
            self.bar.unit = self.unit
        if self.bar.bar_format == COUNTING:
            self.bar.unit = self.unit if done == 1 else self.unit + "s"
        if done != self.bar.n:
            self.bar.update(done - self.bar.n)
        elif self.bar.bar_format == COUNTING:
            self.bar.refresh()
        if self.transient and total is not None and done >= total:
            self.close()  # finished: make room for what comes next
            self.finished = True

    def relabel(self, label: str) -> None:
        self.label = label
        if self.bar is not None:
            self.bar.set_description_str(label)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def abandon(self) -> None:
        """Stop the bar without drawing it again: after Ctrl-C the terminal
        has echoed ``^C`` after it, and a bar drawn again (it fills the
        line) would show a second time below. It stays as last drawn."""
        if self.bar is not None:
            bar, self.bar = self.bar, None
            bar.sp = None  # tqdm's close draws nothing without a status printer
            bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            self.abandon()
        else:
            self.close()


@contextmanager
def warnings_as_messages() -> Iterator[None]:
    """While the block runs, every warning is one ``warning: ...`` line on
    stderr; deprecation and resource warnings, meant for developers, are
    not shown."""

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        echo_err(f"warning: {one_line(message)}")

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        for quiet in (DeprecationWarning, PendingDeprecationWarning, ResourceWarning, ImportWarning):
            warnings.simplefilter("ignore", quiet)
        warnings.showwarning = show
        yield
