"""The one way the platform runs dbt: in-process through dbt's ``dbtRunner``, against
the mesh's own profiles (never ~/.dbt).

dbt's profile (profiles/profiles.yml) reads its paths with ``env_var()``, which looks
only at the process environment, so ``run_dbt`` sets those few variables for the length
of one invocation and restores them afterwards. It is the only place that does.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from dbt.cli.main import dbtRunner, dbtRunnerResult

from duckmesh.core.project import Mesh, MeshError


@contextmanager
def _profile_env(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def colour_args(stream: TextIO | None = None, no_color: str | None = None) -> list[str]:
    """``--no-use-colors`` unless dbt writes to a terminal and NO_COLOR is unset
    (https://no-color.org): a redirected log never holds escape codes."""
    stream = stream or sys.stdout
    no_color = os.environ.get("NO_COLOR") if no_color is None else no_color
    isatty = getattr(stream, "isatty", None)
    return [] if not no_color and isatty is not None and isatty() else ["--no-use-colors"]


def invoke(args: list[str], env: dict[str, str] | None = None,
           callbacks: list[Callable[[Any], None]] | None = None) -> dbtRunnerResult:
    """``dbt <args>`` in this process (any project: pass --project-dir/--profiles-dir),
    without colour codes when the output is not a terminal or NO_COLOR is set."""
    with _profile_env(env or {}):
        return dbtRunner(callbacks=callbacks or []).invoke([*colour_args(), *args])


def run_dbt(mesh: Mesh, args: list[str], env: dict[str, str] | None = None, *,
            quiet: bool = False,
            callbacks: list[Callable[[Any], None]] | None = None) -> dbtRunnerResult:
    """``dbt <args>`` for the mesh. ``env``: values for the profile's ``env_var()`` on top
    of the mesh's own (database file, source data, target); ``callbacks`` receive dbt's
    events (EventMsg)."""
    command = [*args, "--project-dir", str(mesh.root), "--profiles-dir", str(mesh.profiles_dir)]
    if quiet:
        command = ["--quiet", *command]
    return invoke(command, {**mesh.env(), **(env or {})}, callbacks)


def require_success(result: dbtRunnerResult, step: str, *, printed: bool = False) -> None:
    """Raise a MeshError when dbt failed. ``printed``: dbt already printed the error (a run
    without --quiet), so the message names its first line only, never the whole text
    again."""
    if result.success:
        return
    if printed:
        first = str(result.exception or "").strip().splitlines()
        what = f" ({first[0]})" if first else ""
        raise MeshError(f"dbt {step} failed{what}: the error is printed above and in "
                        "logs/dbt.log")
    detail = f": {result.exception}" if result.exception else ""
    raise MeshError(f"dbt {step} failed{detail} (see the dbt output above and logs/dbt.log)")
