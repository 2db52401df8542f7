"""Federated computational governance (issue 3): policies P00-P09 in macros/governance/.

One fixture mesh (tests/fixtures/governance/) installs a domain per policy, each
breaking exactly that policy, a clean domain and one with exemptions. It is
built once: the build must fail in on-run-start, before any model runs, listing
every violation with its policy, node and fix. The real mesh must pass.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import REPO, duckmesh

sys.path.insert(0, str(REPO / "scripts"))
from duckmesh import semver  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "governance"
DBT = str(Path(sys.executable).parent / "dbt")
EXEMPTIONS = [
    {"policy": "P05", "node": "model.gov_exempted.accounts.v1", "column": "account_id",
     "reason": "fixture: ids are numeric until the CRM migration", "expires": "2099-12-31"},
    {"policy": "P05", "node": "model.gov_exempted.accounts.v1", "column": "opened_at",
     "reason": "fixture: an exemption that ran out", "expires": "2020-01-01"},
]


def make_fixture_mesh(dest: Path) -> Path:
    """The real root project (config, macros, profiles) over the fixture domains."""
    dest.mkdir(parents=True)
    project = yaml.safe_load((REPO / "dbt_project.yml").read_text())
    project["vars"]["duckmesh_governance"]["exemptions"] = EXEMPTIONS
    (dest / "dbt_project.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    shutil.copytree(REPO / "macros", dest / "macros")
    shutil.copytree(REPO / "profiles", dest / "profiles")
    (dest / "models").mkdir()
    shutil.copy(REPO / "models" / "_groups.yml", dest / "models")  # the root's own group
    shutil.copytree(FIXTURES / "domains", dest / "domains")
    shutil.copytree(FIXTURES / "published", dest / "published")
    domains = sorted(p.name for p in (dest / "domains").iterdir())
    (dest / "packages.yml").write_text(yaml.safe_dump(
        {"packages": [{"local": f"domains/{name}"} for name in domains]}))
    return dest


def dbt(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DBT, *args, "--project-dir", str(root), "--profiles-dir", str(root / "profiles")],
        cwd=root, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "DUCKMESH_DB": str(root / "mesh.duckdb"),
             "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
