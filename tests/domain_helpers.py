"""Shared pieces of the domain-autonomy tests (test_domains.py, test_domain_publish.py):
plain dbt run from a domain's folder as its team would, and row counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from conftest import dbt_cli
from duckmesh.core import builddb

DOMAINS = ["customers", "sales", "customer_service", "marketing"]
FIXTURES = Path(__file__).parent / "fixtures"


def plain_dbt(folder: Path, *args: str, env: dict[str, str] | None = None,
              check: bool = True) -> subprocess.CompletedProcess:
    """`dbt <args>` run from ``folder`` as a domain team would, with the mesh's profiles."""
    profiles = next(p for p in [folder, *folder.parents] if (p / "profiles").is_dir())
    result = dbt_cli(
        [*args, "--profiles-dir", str(profiles / "profiles")], cwd=folder,
        env={"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(folder),
             "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})})
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} in {folder} failed:\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    return result


def counts(db: Path, relations: list[str]) -> dict[str, int]:
    con = builddb.connect(db, read_only=True)
    try:
        return {r: con.execute(f"select count(*) from {r}").fetchone()[0] for r in relations}
    finally:
        con.close()


def products_of(root: Path, domain: str) -> list[str]:
    """The product relations a domain's yml declares: <schema>.<product>_v<N>."""
    data = yaml.safe_load((root / "domains" / domain / "models" / "products"
                           / "_products.yml").read_text())
    return sorted(f"{domain}.{m['name']}_v{v['v']}" for m in data["models"]
                  for v in m.get("versions", []))
