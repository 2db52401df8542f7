"""The governance gate: the whole policy check over the manifest a build or publish is
about to publish, with the mesh's severities and exemptions.

dbt's on-run-start hook runs the macro policies before any model builds, but not on
every path: dbt runs no hook when a selection is empty (a `--changed-only` build after
a yml-only change), and a domain built alone (`build --domain`, `ci`) is its own root
project, whose vars a domain could set. So every path that builds or publishes (build,
`--changed-only`, `--select`, `--domain`, `ci`, `publish`) calls ``require`` over the
manifest it built or publishes, before anything is published:

- the macro policies (P00-P12) over that manifest, without dbt (offline.py), with the
  mesh's vars: the root dbt_project.yml, never a domain's;
- P00: a domain's dbt_project.yml that sets ``vars.duckmesh_governance`` (a domain
  cannot weaken a policy the mesh sets);
- the policies over compiled SQL, which the hook cannot see (it runs before dbt
  compiles): P13 declared reads (declared_reads.py), P06 by column lineage (sqlglot,
  through any alias, comments and literals), P12 with counts (pii.py) and P10, SQL
  that only DuckDB accepts (portability.py), each with the mesh's severities and
  exemptions applied by the same macro that applies them to the macro policies.

A failure raises GovernanceFailed (a MeshError): the caller publishes nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from duckmesh.core import builddb, fingerprint
from duckmesh.core.output import step
from duckmesh.core.project import Mesh, MeshError
from duckmesh.governance import declared_reads, offline, parse_checks, pii, portability, report
from duckmesh.governance.report import Violation


class GovernanceFailed(MeshError):
    """A policy error in what a build or publish was about to publish."""


def settled(mesh: Mesh, manifest: dict, found: list[Violation]
             ) -> tuple[list[Violation], int]:
    """``found`` with the mesh's severities and exemptions applied, by the macros that
    apply them to the macro policies (offline.settle): one rule for both. A domain
    setting the mesh's governance vars (P00) is binding: never off, never exempted."""
    if not found:
        return [], 0
    raw = [{**{key: getattr(v, key) for key in ("policy", "domain", "node", "column",
                                                "message", "fix")},
            "level": v.severity,
            "binding": v.policy == "P00" and v.node.startswith("domain_vars.")}
           for v in found]
    try:
        kept, exempted = offline.settle(mesh, manifest, raw)
    except offline.Unsupported:
        return found, 0  # the manifest's macros cannot run here: every finding stands
    return [Violation(v["policy"], v["severity"], v["domain"], v["node"], v["column"],
                      v["message"], v["fix"]) for v in kept], exempted


def _engines(mesh: Mesh, manifest: dict) -> list[str]:
    """vars.duckmesh_governance.portability_engines (default: governance_defaults)."""
    try:
        return list(offline.config(mesh, manifest).get("portability_engines") or [])
    except offline.Unsupported:
        return list(portability.ENGINES)  # the macros cannot run here: every engine


def domain_override_violations(mesh: Mesh) -> list[Violation]:
    """P00: a domain's dbt_project.yml that sets the mesh's governance vars."""
    return [Violation("P00", "error", o.domain, f"domain_vars.{o.domain}", None, o.message(),
                      o.fix()) for o in parse_checks.domain_overrides(mesh)]


def compiled_violations(mesh: Mesh, manifest: dict, packages: set[str] | None = None
                        ) -> list[Violation]:
    """P13, P06 (lineage), P12 (counts) and P10 (SQL only DuckDB accepts) over the
    manifest's compiled SQL."""
    cache = mesh.root / "target" / "governance"
    found = [Violation(declared_reads.POLICY, "error", f.domain, f.node, None, f.message,
                       f.fix) for f in declared_reads.check(manifest, packages)]
    found += pii.violations(manifest, packages, cache)
    found += portability.violations(manifest, _engines(mesh, manifest), packages,
                                    cache / "portability.json")
    return found


def _macro_violations(mesh: Mesh, manifest: dict, partial: bool, project_dir: Path | None
                      ) -> tuple[list[Violation], int]:
    try:
        data = offline.governance_check(mesh, manifest, partial=partial,
                                        project_dir=project_dir)
    except offline.Unsupported:
        # a macro asked for what only dbt has: dbt checks the mesh's files instead
        result = report.check(Mesh(mesh.root, mesh.settings), saved=False)
        return [v for v in result.violations if v.policy not in LOCAL], result.exempted
    fields = Violation.__dataclass_fields__
    return ([Violation(**{key: v.get(key) for key in fields}) for v in data["violations"]],
            int(data["exempted"]))


def _not_in(macro: list[Violation], local: list[Violation]) -> list[Violation]:
    """The findings over compiled SQL that the macros did not make already (P06 and P12
    judge the same columns twice); P10 over SQL finds what the macro P10 cannot see."""
    seen = {(v.policy, v.node, (v.column or "").lower()) for v in macro}
    return [v for v in local if v.policy == portability.POLICY
            or (v.policy, v.node, (v.column or "").lower()) not in seen]


# policies evaluated here, not by the macros
LOCAL = {declared_reads.POLICY}


@dataclass
class GateResult:
    violations: list[Violation]
    exempted: int
    seconds: float

    @property
    def errors(self) -> list[Violation]:
        return [v for v in self.violations if v.severity == "error"]


def check(mesh: Mesh, manifest: dict, *, partial: bool = False,
          packages: set[str] | None = None, project_dir: Path | None = None,
          macros_ran: bool = False) -> GateResult:
    """Every policy over ``manifest`` (the compiled ones over ``packages`` only, when
    given: a domain's own models), with the mesh's settings; ``project_dir``: the
    project dbt ran from, when not the mesh root (a domain built alone). ``macros_ran``:
    the mesh root's hook ran the macro policies over this very manifest with the mesh's
    settings and passed (hook_passed), so they are not run twice."""
    started = time.perf_counter()
    macro, exempted = ([], 0) if macros_ran else _macro_violations(mesh, manifest, partial,
                                                                   project_dir)
    local, local_exempted = settled(
        mesh, manifest,
        domain_override_violations(mesh) + compiled_violations(mesh, manifest, packages))
    merged = macro + _not_in(macro, local)
    merged.sort(key=lambda v: (v.policy, v.domain, v.node, v.column or ""))
    return GateResult(merged, exempted + local_exempted, time.perf_counter() - started)


def hook_passed(manifest: dict, run_results: dict | None) -> bool:
    """The root project's on-run-start hook (the macro policies over the whole mesh, with
    the root's vars: macros/products/on_run_start.sql) ran in this dbt invocation and
    passed. Not so for an empty selection, which runs no hook."""
    root = (manifest.get("metadata") or {}).get("project_name")
    hook = f"operation.{root}.{root}-on-run-start-0"
    return any(r.get("unique_id") == hook and r.get("status") == "success"
               for r in (run_results or {}).get("results") or [])


def require(mesh: Mesh, manifest: dict, what: str, *, partial: bool = False,
            packages: set[str] | None = None, project_dir: Path | None = None,
            log: Callable[[str], None] = step, quiet: bool = False,
            macros_ran: bool = False) -> GateResult:
    """Raise GovernanceFailed, listing every error, when ``manifest`` breaks a policy;
    ``quiet``: say nothing when it passes without warnings."""
    result = check(mesh, manifest, partial=partial, packages=packages,
                   project_dir=project_dir, macros_ran=macros_ran)
    for warning in (v for v in result.violations if v.severity == "warn"):
        log(f"      {warning.line()}")
    if result.errors:
        lines = "\n".join(v.line() for v in result.errors)
        raise GovernanceFailed(
            f"governance: {len(result.errors)} error(s) in {what}; nothing published (the "
            f"last publish stays current):\n{lines}")
    if not quiet:
        log(f"      governance: 0 error(s) over what {what} publishes "
            f"({result.seconds:.2f}s, with the compiled SQL: declared reads, PII lineage)")
    return result


def manifest_with_sql(manifest: dict, *earlier: Path) -> dict:
    """``manifest`` with the compiled SQL of ``earlier`` manifests (the last build's
    state, the last publish), first found first, for the models this invocation did not
    compile (a `--changed-only` or `--select` build compiles only what it selects) and
    whose raw SQL is the same there: their tables are those builds', which passed this
    gate."""
    nodes = manifest["nodes"]
    missing = {u for u, n in nodes.items()
               if n["resource_type"] == "model" and not n.get("compiled_code")}
    filled: dict[str, dict] = {}
    for path in earlier:
        if not missing or not path.is_file():
            continue
        try:
            before = json.loads(path.read_text())["nodes"]
        except (OSError, ValueError, KeyError):
            continue
        renames = builddb.relation_renames(before, nodes)  # a published manifest's products
        for uid in sorted(missing):
            old = before.get(uid) or {}
            if old.get("compiled_code") and old.get("raw_code") == nodes[uid].get("raw_code"):
                filled[uid] = {**nodes[uid],
                               "compiled_code": builddb.renamed(old["compiled_code"], renames)}
                missing.discard(uid)
    return {**manifest, "nodes": {**nodes, **filled}} if filled else manifest


def with_compiled(mesh: Mesh, result: report.GovernanceReport) -> report.GovernanceReport:
    """``result`` (the macro policies' report) with the policies over compiled SQL,
    judged on the last build's manifest while it still describes the files (no file
    dbt reads changed since: core/fingerprint.py); findings the macros made are not repeated."""
    manifest_path = mesh.target_dir / "manifest.json"
    if not fingerprint.manifest_is_current(mesh, manifest_path):
        return result
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return result
    local, exempted = settled(mesh, manifest, compiled_violations(mesh, manifest))
    result.violations += _not_in(result.violations, local)
    result.exempted += exempted
    return result
