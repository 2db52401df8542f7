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
from contextlib import chdir, contextmanager, nullcontext
from pathlib import Path
from typing import Any, TextIO

from dbt.cli.main import dbtRunner, dbtRunnerResult

from duckmesh.core.output import console
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


# the paths dbt hashes into its parse state: the profile's database file (dbt hashes the
# connection values) and the published folder that dbt_project.yml reads with env_var()
_PARSE_STATE_PATHS = ("DUCKMESH_DB", "DUCKMESH_PUBLISHED")


def parse_state_env(env: dict[str, str], cwd: Path, root: Path | None = None
                    ) -> dict[str, str]:
    """``env`` with the database file and the published folder, when they lie under
    ``root`` (default ``cwd``), relative to ``cwd``, the folder dbt runs in: dbt keeps
    their values in its parse state, so absolute paths would make a moved or copied
    checkout parse every file again (about 4 CPU s for the mesh). Every dbt of a mesh
    (builds, and sqlfluff's dbt templater) gets the same values, so none of them makes
    the next one parse in full."""
    env = dict(env)
    for key in _PARSE_STATE_PATHS:
        path = Path(env[key]) if env.get(key) else None
        if path is not None and path.is_absolute() and path.is_relative_to(root or cwd):
            env[key] = os.path.relpath(path, cwd)
    return env


def invoke(args: list[str], env: dict[str, str] | None = None,
           callbacks: list[Callable[[Any], None]] | None = None,
           cwd: Path | None = None, root: Path | None = None) -> dbtRunnerResult:
    """``dbt <args>`` in this process (any project: pass --project-dir/--profiles-dir),
    without colour codes when the output is not a terminal or NO_COLOR is set.
    ``cwd``: the folder dbt runs in (parse_state_env: paths under ``root`` relative to
    it)."""
    env = parse_state_env(env or {}, cwd, root) if cwd is not None else dict(env or {})
    with _profile_env(env), chdir(cwd) if cwd is not None else nullcontext(), \
            _node_progress(args) as counting:
        follow_hub_setting()
        try:
            return dbtRunner(callbacks=[*(callbacks or []), *counting]).invoke(
                [*colour_args(), *args])
        finally:
            close_duckdb()


# the dbt commands whose nodes a progress bar counts
_NODE_COMMANDS = {"build", "run", "test", "seed", "snapshot"}


@contextmanager
def _node_progress(args: list[str]) -> Iterator[list[Callable[[Any], None]]]:
    """On a terminal, a bar of dbt's finished nodes (``N/M``) under dbt's own log, as a
    dbt callback; nothing anywhere else, nor for a ``--quiet`` dbt."""
    voice = console()
    command = next((arg for arg in args if not arg.startswith("-")), "")
    if command not in _NODE_COMMANDS or "--quiet" in args or not voice.shows_progress():
        yield []
        return
    with voice.progress(f"dbt {command}") as bar:

        def count(event: Any) -> None:
            name = event.info.name
            if name == "LogStartLine":
                bar.total(event.data.total)
            elif name == "NodeFinished":
                bar.advance()

        yield [count]


def follow_hub_setting() -> None:
    """dbt reads DBT_PACKAGE_HUB_URL once, when its registry client is imported: an
    invocation in this process follows the value the environment has now."""
    from dbt.clients import registry  # noqa: PLC0415 (dbt is imported by the caller)
    from dbt.utils import memoized  # noqa: PLC0415

    url = os.environ.get("DBT_PACKAGE_HUB_URL") or "https://hub.getdbt.com/"
    if registry.DEFAULT_REGISTRY_BASE_URL != url:  # and forget what the other hub said
        registry.DEFAULT_REGISTRY_BASE_URL = url
        registry._get_cached = memoized(registry._get_package_with_retries)
        registry.index_cached = memoized(registry.index)


def close_duckdb() -> None:
    """Close the database dbt-duckdb keeps open in a class attribute after an invocation,
    so the platform's next step (or dbt's next invocation) opens the file afresh with its
    own settings; another process sees no lock of this one."""
    module = sys.modules.get("dbt.adapters.duckdb.connections")
    manager = getattr(module, "DuckDBConnectionManager", None)
    if manager is None:
        return
    with manager._LOCK:
        if manager._ENV is not None:
            manager._ENV.close()
            manager._ENV = None


def run_dbt(mesh: Mesh, args: list[str], env: dict[str, str] | None = None, *,
            quiet: bool = False,
            callbacks: list[Callable[[Any], None]] | None = None) -> dbtRunnerResult:
    """``dbt <args>`` for the mesh. ``env``: values for the profile's ``env_var()`` on top
    of the mesh's own (database file, source data, target); ``callbacks`` receive dbt's
    events (EventMsg)."""
    command = [*args, "--project-dir", str(mesh.root), "--profiles-dir", str(mesh.profiles_dir)]
    if quiet:
        command = ["--quiet", *command]
    return invoke(command, {**mesh.env(), **(env or {})}, callbacks, cwd=mesh.root)


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
