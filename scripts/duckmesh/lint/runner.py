"""`duckmesh lint`: sqlfluff (dbt templater) over the root project and every domain."""

from __future__ import annotations

import os
import subprocess
import sys

from duckmesh.core.output import console
from duckmesh.core.project import Mesh, relative


def sql_paths(mesh: Mesh) -> list[str]:
    paths = ["models"] if (mesh.root / "models").is_dir() else []
    for domain in mesh.domain_dirs():
        if (domain / "models").is_dir():
            paths.append(relative(domain / "models", mesh.root))
    return paths


def sqlfluff_env(mesh: Mesh) -> dict[str, str]:
    """The environment sqlfluff's dbt templater runs with: what the profile's env_var()
    reads, with the values a build gives dbt (core/dbt.py parse_state_env, and the data
    folder of build/pipeline.py data_for_dbt), so the templater's parse and the next
    build's reuse each other's. The templater reads no data."""
    from duckmesh.core.dbt import parse_state_env  # noqa: PLC0415 (imports dbt)

    return {**os.environ,
            **parse_state_env(mesh.env(mesh.root / "data" / "current"), mesh.root)}


def lint(mesh: Mesh, fix: bool = False, paths: list[str] | None = None) -> int:
    """Run sqlfluff in its own process (its dbt templater parses the project) over
    ``paths`` (default: every domain's models); return its exit code."""
    if not (mesh.root / "dbt_packages").is_dir():
        from duckmesh.core import dbt  # noqa: PLC0415 (dbt only when deps are missing)

        dbt.require_success(dbt.run_dbt(mesh, ["deps"], quiet=True), "deps")
    env = sqlfluff_env(mesh)
    command = [sys.executable, "-m", "sqlfluff", "fix" if fix else "lint",
               *(paths or sql_paths(mesh))]
    console().step(f"$ sqlfluff {' '.join(command[3:])}")
    if sys.stdout.isatty():  # sqlfluff's own colours and progress on the terminal
        return subprocess.run(command, cwd=mesh.root, env=env).returncode
    # else relayed line by line through this process's stdout (a log, a pipe, a caller
    # that captures sys.stdout)
    with subprocess.Popen(command, cwd=mesh.root, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
        return child.wait()
