"""sqlfluff's fixes for SQL the platform writes (scaffolding), in this process.

The mesh's rules (.sqlfluff at the root) with sqlfluff's Jinja templater, whose dbt
built-ins stand in for ref() and source(): layout and capitalisation do not depend on
what a ref resolves to, so the file then passes `make lint` (the dbt templater) too,
without a dbt parse of the whole project.
"""

from __future__ import annotations

from pathlib import Path

from sqlfluff.core import FluffConfig, Linter


def fix_sql(root: Path, sql: str) -> str:
    """``sql`` with sqlfluff's fixes applied under the mesh's .sqlfluff."""
    config = FluffConfig.from_path(str(root), overrides={"templater": "jinja"})
    fixed, _ = Linter(config=config).lint_string(sql, fix=True).fix_string()
    return fixed
