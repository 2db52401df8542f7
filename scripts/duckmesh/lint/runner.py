"""`duckmesh lint`: sqlfluff (dbt templater) over the root project and every domain."""

from __future__ import annotations

import os
import subprocess
import sys

from duckmesh.core.project import Mesh, relative


def sql_paths(mesh: Mesh) -> list[str]:
    paths = ["models"] if (mesh.root / "models").is_dir() else []
    for domain in mesh.domain_dirs():
        if (domain / "models").is_dir():
            paths.append(relative(domain / "models", mesh.root))
    return paths


def lint(mesh: Mesh, fix: bool = False, paths: list[str] | None = None) -> int:
    """Run sqlfluff in its own process (its dbt templater parses the project) over
    ``paths`` (default: every domain's models); return its exit code."""
    if not (mesh.root / "dbt_packages").is_dir():
        from duckmesh.core import dbt  # noqa: PLC0415 (dbt only when deps are missing)

        dbt.require_success(dbt.run_dbt(mesh, ["deps"], quiet=True), "deps")
    # the child's environment: what the profile's env_var() reads
    env = {**os.environ, **mesh.env()}
    env.setdefault("DUCKMESH_DATA", str(mesh.root / "data" / "lint"))
    command = [sys.executable, "-m", "sqlfluff", "fix" if fix else "lint",
               *(paths or sql_paths(mesh))]
    print("$ sqlfluff", " ".join(command[3:]), flush=True)
    return subprocess.run(command, cwd=mesh.root, env=env).returncode
