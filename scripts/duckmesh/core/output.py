"""The platform's one voice: every line the platform writes goes through ``console()``.

- ``out``: what the command answers (a table, "published snapshot ...") on stdout;
- ``step``: what it is doing (build steps, "observability: recording ...");
- ``warn`` and ``error``: problems, shown in every mode;
- ``json``: the machine-readable answer of ``--json``;
- ``progress``: a bar for long work (data generation, dbt's nodes, uploads).

Three modes: normal; quiet (``duckmesh -q``: answers, warnings and errors only) and JSON
(``--json``: stdout holds the JSON and nothing else; warnings and errors go to stderr).
dbt's own log is dbt's and does not pass through here.

On a terminal (and NO_COLOR unset) lines are styled and long work shows a progress bar,
both with ``rich``, imported only then. Anywhere else (pytest, CI, a pipe) the text is
plain, exactly as written: no colour codes, no spinners, no line rewriting. The streams
are looked up at every write, so redirecting sys.stdout redirects the console."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from enum import Enum
from typing import Any, TextIO


class Mode(Enum):
    NORMAL = "normal"
    QUIET = "quiet"  # answers, warnings and errors
    JSON = "json"  # stdout: the JSON only


# rich styles per kind of line, used on a terminal only
_STYLES = {"step": "cyan", "warn": "yellow", "error": "bold red"}


class Console:
    """Where the platform's lines go. ``stdout``/``stderr`` default to sys.stdout and
    sys.stderr as they are at each write; ``styled`` None means "when the stream is a
    terminal and ``no_color`` is false". (A plain class, not a dataclass: the CLI
    imports this module on every start.)"""

    def __init__(self, mode: Mode = Mode.NORMAL, stdout: TextIO | None = None,
                 stderr: TextIO | None = None, styled: bool | None = None,
                 no_color: bool = False) -> None:
        self.mode, self.stdout, self.stderr = mode, stdout, stderr
        self.styled, self.no_color = styled, no_color
        self._rich: dict[int, Any] = {}

    # -- the kinds of line ------------------------------------------------------------

    def out(self, text: str = "", *, err: bool = False) -> None:
        """The command's answer (not in JSON mode, whose answer is ``json``)."""
        if self.mode is not Mode.JSON:
            self._write(text, err, None)

    def step(self, text: str = "", *, err: bool = False) -> None:
        """What the platform is doing (normal mode only)."""
        if self.mode is Mode.NORMAL:
            self._write(text, err, "step")

    def warn(self, text: str, *, err: bool = True) -> None:
        """A problem that does not stop the command: shown in every mode (on stderr in
        JSON mode, which keeps stdout for the JSON)."""
        self._write(text, err or self.mode is Mode.JSON, "warn")

    def error(self, text: str, *, err: bool = True) -> None:
        """Why the command failed, on stderr (``err=False``: in the step lines on stdout,
        unless in JSON mode)."""
        self._write(text, err or self.mode is Mode.JSON, "error")

    def json(self, data: object, *, lines: bool = False) -> None:
        """The machine-readable answer: one indented document, or with ``lines`` one
        compact document per item of ``data``."""
        import json as jsonlib  # noqa: PLC0415 (not needed to start the CLI)

        if lines:
            for item in data:  # type: ignore[attr-defined]
                self._write(item if isinstance(item, str) else
                            jsonlib.dumps(item, default=str), False, None)
        else:
            self._write(jsonlib.dumps(data, indent=2, default=str), False, None)

    def shows_progress(self) -> bool:
        """Whether ``progress`` draws a bar: normal mode, stdout a terminal."""
        return self.mode is Mode.NORMAL and self._is_styled(self._stream(False))

    @contextmanager
    def progress(self, label: str, total: float | None = None) -> Iterator[Bar]:
        """A progress bar for long work, moved by ``bar.advance(amount)``: on a terminal in
        normal mode only, else nothing at all (the step lines say it). It is drawn at the
        foot of stdout, and what is printed meanwhile (dbt's log too) scrolls above it."""
        if not self.shows_progress():
            yield Bar()
            return
        from rich.progress import (  # noqa: PLC0415 (rich: on a terminal only)
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=self._rich_console(False), transient=True) as drawn:
            task = drawn.add_task(label, total=total)
            yield Bar(drawn, task)

    # -- writing ----------------------------------------------------------------------

    def _stream(self, err: bool) -> TextIO:
        stream = (self.stderr or sys.stderr) if err else (self.stdout or sys.stdout)
        # under a drawn progress bar rich proxies sys.stdout: write to the file behind it
        # through the bar's own console, which prints above the bar
        return getattr(stream, "rich_proxied_file", stream)

    def _is_styled(self, stream: TextIO) -> bool:
        if self.styled is not None:
            return self.styled
        isatty = getattr(stream, "isatty", None)
        return not self.no_color and isatty is not None and bool(isatty())

    def _rich_console(self, err: bool) -> Any:
        stream = self._stream(err)
        made = self._rich.get(id(stream))
        if made is None or made.file is not stream:
            from rich.console import Console as RichConsole  # noqa: PLC0415

            made = RichConsole(file=stream, highlight=False, soft_wrap=True, emoji=False,
                               markup=False, force_terminal=True)
            self._rich[id(stream)] = made
        return made

    def _write(self, text: str, err: bool, kind: str | None) -> None:
        stream = self._stream(err)
        if kind is not None and self._is_styled(stream):
            from rich.text import Text  # noqa: PLC0415 (rich: on a terminal only)

            self._rich_console(err).print(Text(text, style=_STYLES[kind]))
        else:
            print(text, file=stream, flush=True)


class Bar:
    """A progress bar's handle; without a drawn bar (off a terminal) it does nothing."""

    def __init__(self, drawn: Any = None, task: Any = None) -> None:
        self._drawn, self._task = drawn, task

    def advance(self, amount: float = 1) -> None:
        if self._drawn is not None:
            self._drawn.advance(self._task, amount)

    def total(self, total: float) -> None:
        if self._drawn is not None:
            self._drawn.update(self._task, total=total)


_current: ContextVar[Console | None] = ContextVar("duckmesh_console", default=None)


def console() -> Console:
    """The console of the command that runs (a plain one outside a command)."""
    found = _current.get()
    if found is None:
        found = Console()
        _current.set(found)
    return found


def step(text: str) -> None:
    """``console().step(text)``, for the ``log=`` parameters that still take a callable
    (their default, instead of ``print``)."""
    console().step(text)


@contextmanager
def use_console(chosen: Console) -> Iterator[Console]:
    """Make ``chosen`` the console for the length of the block (one CLI invocation)."""
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned text table (numbers right-aligned)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]

    def line(cells: list[str]) -> str:
        out = []
        for cell, width in zip(cells, widths):
            numeric = cell.replace(",", "").replace(".", "").isdigit()
            out.append(cell.rjust(width) if numeric else cell.ljust(width))
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])
