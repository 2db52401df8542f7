"""The one build pipeline. `duckmesh build` (the mesh), `build --domain` and `ci --domain`
(one domain in its own workspace) and `scale-out build` (the mesh on Spark) are settings
of it: a Plan says which project dbt builds, which steps run (each step's Scope) and
which dbt arguments it adds.

Every build follows ``run``: [1/4] the source data, [2/4] `dbt deps` (skipped while its
stamp is current), the BEFORE_BUILD steps, [3/4] `dbt build`, the governance gate (every
build but Spark's, which publishes nothing), the record of the build, the AFTER_BUILD
steps, [4/4] the summary. Each step
is a function of the one BuildContext, which carries the settings, the source data and,
after dbt ran, the manifest and run results (read once). A MeshError from a step before
the build stops it before dbt runs. The mesh build runs its steps after a failed build
too (``ctx.success`` is False), so the history records what ran; a domain or Spark build
stops at a failed dbt build. Whether anything changed since the last build (deps, the
data set, --changed-only) is asked of core/fingerprint.py, once per question.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from duckmesh.build import domain
from duckmesh.build.deps import deps_args
from duckmesh.catalog import store as catalog_store
from duckmesh.consumers import impact
from duckmesh.core import dbt, fingerprint, salt
from duckmesh.core.artifacts import Artifacts
from duckmesh.core.context import BuildContext
from duckmesh.core.locks import require_writable
from duckmesh.core.output import console, format_table
from duckmesh.core.products import public_products, row_counts
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.governance import gate, parse_checks
from duckmesh.observability import pipeline as observability
from duckmesh.publish import publisher
from duckmesh.sources import generate, quarantine

T = TypeVar("T")


class Scope(enum.Flag):
    """Which builds run a step."""

    MESH = enum.auto()  # `duckmesh build`: every domain into the mesh database, published
    DOMAIN = enum.auto()  # `build --domain`: one domain's own nodes, in its workspace
    CI = enum.auto()  # `ci --domain`: a domain build, its SemVer check and publish
    SPARK = enum.auto()  # `scale-out build`: the whole mesh on Spark


WHOLE_MESH = Scope.MESH | Scope.SPARK
ONE_DOMAIN = Scope.DOMAIN | Scope.CI
EVERY = WHOLE_MESH | ONE_DOMAIN


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[BuildContext], None]
    scope: Scope = EVERY
    # its outcome depends only on the source files: a --changed-only build over unchanged
    # data reuses the recorded outcome instead of running it
    data_step: bool = False
    # an error here means nothing may be published: the publishing steps are skipped
    guards_publish: bool = False
    publishes: bool = False


# Consumer access is governance policy P11 (macros/governance/), checked by dbt itself
# before any model builds: no step and no separate `dbt parse` here.
# A domain build checks the publish it reads when its plan is made (domain_plan).
BEFORE_BUILD: tuple[Step, ...] = (
    Step("published_check", publisher.before_build, WHOLE_MESH),  # P09 reads the last publish
    Step("project_checks", parse_checks.before_build, WHOLE_MESH),
    Step("source_checks", quarantine.check_sources, WHOLE_MESH, data_step=True),
    Step("source_checks", domain.check_sources, ONE_DOMAIN),
)

# the consumer impact check before publish (a read it would break publishes nothing);
# publish before the catalog, which names the Parquet port publish has just written
AFTER_BUILD: tuple[Step, ...] = (
    Step("consumer_impact", impact.after_build, Scope.MESH, guards_publish=True),
    Step("publish", publisher.after_build, Scope.MESH, publishes=True),
    Step("catalog", catalog_store.after_build, Scope.MESH),
    Step("observability", observability.after_build, Scope.MESH),
    Step("semver", domain.semver_check, Scope.CI, guards_publish=True),
    Step("consumer_impact", domain.impact_check, Scope.CI, guards_publish=True),
    Step("publish", domain.publish_step, Scope.CI, publishes=True),
)


@dataclass(frozen=True)
class BuildOptions:
    scale: float = 0.1
    seed: int = 42
    select: str | None = None
    full_refresh: bool = False
    changed_only: bool = False


@dataclass(frozen=True)
class Plan:
    """One setting of the pipeline: which project dbt builds (``project_dir``, the
    workspace ``ctx.mesh``), which steps (``scope``), which dbt arguments."""

    scope: Scope
    ctx: BuildContext
    options: BuildOptions
    project_dir: Path  # where dbt runs
    env: Callable[[Path], dict[str, str]]  # what dbt reads (env_var), given the source data
    last_build: fingerprint.LastBuild  # the record of its last successful build
    deps: fingerprint.DepsStamp  # what its last `dbt deps` installed
    deps_folders: tuple[Path, ...]  # the local packages whose packages.yml the lock must hold
    dbt_args: tuple[str, ...] = ()  # after `build`: its target path, vars, selection
    label: str = "build"  # what the messages call it
    where: str = ""  # " in <folder>" for a project other than the root
    summary: Callable[[BuildContext], None] = field(default=lambda ctx: None)
    # another dbt target than the profile's (Spark): its artifacts are not the workspace's
    target: str | None = None


def mesh_plan(mesh: Mesh, options: BuildOptions) -> Plan:
    """`duckmesh build`: the whole mesh from the root project into the mesh database.
    The Spark build is this plan with its own target (scaleout/spark.py)."""
    data_dir = mesh.data_dir(options.scale)
    ctx = BuildContext(mesh, options.scale, data_dir, seed=options.seed,
                       changed_only=options.changed_only)
    return Plan(Scope.MESH, ctx, options, mesh.root, mesh.env,
                fingerprint.last_build(mesh, data_dir), fingerprint.deps_stamp(mesh),
                tuple(mesh.domain_dirs()), summary=print_summary)


def domain_plan(mesh: Mesh, name: str, options: BuildOptions, scope: Scope = Scope.DOMAIN,
                no_publish: bool = False) -> Plan:
    """`build --domain` and `ci --domain`: one domain's own project in its workspace
    (build/domain.py), its upstream domains read from the last publish, which is checked
    here, before anything runs."""
    ws = domain.resolve(mesh, name)
    parse_checks.check(mesh)
    upstream = domain.check_dependencies(mesh, ws)
    published = domain.check_publish(mesh, ws, [u for u in upstream if u != ws.project])
    ws.work_dir.mkdir(parents=True, exist_ok=True)
    where = relative(ws.folder, mesh.root)
    console().step(f"domain {ws.domain} ({where}): its own nodes only; "
                   + (f"upstream {', '.join(upstream)} read from the last publish"
                      if upstream else "no upstream domains"))
    data_dir = mesh.data_dir(options.scale)
    ctx = domain.DomainContext(ws, options.scale, data_dir, seed=options.seed,
                               published=published, no_publish=no_publish)
    upstream_dirs = mesh.domain_dirs() if ws.is_root else [
        mesh.root / "domains" / u for u in upstream if (mesh.root / "domains" / u).is_dir()]
    return Plan(scope, ctx, options, ws.folder, ws.dbt_env, fingerprint.last_build(ws, data_dir),
                fingerprint.deps_stamp(ws, ws.folder, upstream_dirs), tuple(upstream_dirs),
                tuple(domain.dbt_args(mesh, ws)), f"build of domain {ws.domain}", f" in {where}",
                domain.print_ci_summary if scope is Scope.CI else domain.print_summary)


# -- the pipeline -------------------------------------------------------------------------

def run(plan: Plan) -> int:
    """Build as ``plan`` says; prints what each step did."""
    started = time.perf_counter()
    ctx, options = plan.ctx, plan.options
    if plan.scope is Scope.MESH:
        require_writable(ctx.mesh.db_path)
    try:
        source_data(ctx)
        install_packages(plan)
        run_before_build(plan)
    except MeshError:
        if plan.scope is Scope.MESH:
            record_stopped(ctx.mesh, options)
        raise
    outcome = dbt_build(plan)
    if not outcome.success and plan.scope is not Scope.MESH:
        stop(plan, outcome)
    governance_error: MeshError | None = None
    if ctx.results_written and plan.scope is not Scope.SPARK:
        try:
            _timed(ctx, "governance_gate", partial(govern, plan))
            ctx.governed = True
        except MeshError as error:
            governance_error, ctx.success = error, False
            if plan.scope is not Scope.MESH:
                raise
    if ctx.success and not options.select:
        plan.last_build.save(ctx.mesh.manifest_path if plan.scope is Scope.MESH else None,
                             data_records(plan), options.scale)
    if options.changed_only and ctx.success and nothing_ran(ctx.artifacts):
        console().out(f"\nnothing changed since the last build ({ctx.build_seconds:.1f}s): "
                      f"{ctx.mesh.db_path} is up to date")
        return 0
    try:
        step_errors = run_after_build(plan)
        if plan.scope is Scope.MESH:
            fingerprint.save_step_times(ctx.mesh, ctx.step_times)
        dbt.require_success(outcome, "build", printed=True)
        if governance_error is not None:
            raise governance_error
        if step_errors:
            raise MeshError("; ".join(step_errors))
        plan.summary(ctx)
    finally:
        ctx.close()
    if plan.scope is Scope.MESH:
        console().out(f"\n{step_line(ctx.step_times)}")
        console().out(f"mesh built in {time.perf_counter() - started:.1f}s (dbt build "
                      f"{ctx.build_seconds:.1f}s) at scale {options.scale:g}: {ctx.mesh.db_path}")
    return 0


def build(mesh: Mesh, options: BuildOptions) -> int:
    """`duckmesh build`: the whole mesh."""
    return run(mesh_plan(mesh, options))


def build_domain(mesh: Mesh, name: str, options: BuildOptions) -> int:
    """`duckmesh build --domain <name>`: build, test and govern one domain alone."""
    return run(domain_plan(mesh, name, options))


def ci_domain(mesh: Mesh, name: str, options: BuildOptions, no_publish: bool) -> int:
    """`duckmesh ci --domain <name>`: build, SemVer check, publish this domain only."""
    return run(domain_plan(mesh, name, options, Scope.CI, no_publish))


def in_scope(steps: tuple[Step, ...], scope: Scope) -> list[Step]:
    """The steps a build of ``scope`` runs, in order."""
    return [step for step in steps if scope & step.scope]


def run_before_build(plan: Plan) -> None:
    """The BEFORE_BUILD steps of ``plan``; on a --changed-only build over unchanged
    source data the data steps' outcome is the last build's."""
    ctx = plan.ctx
    steps = in_scope(BEFORE_BUILD, plan.scope)
    data_steps = {step.name for step in steps if step.data_step}
    reused = plan.last_build.data_step_overrides(data_steps) if ctx.changed_only else None
    for step in steps:
        if reused is not None and step.data_step:
            console().step(f"      {step.name}: source data unchanged since the last build, skipped")
            restore(ctx, reused.get(step.name, {}))
        else:
            _timed(ctx, step.name, partial(step.run, ctx))


def run_after_build(plan: Plan) -> list[str]:
    """Run the AFTER_BUILD steps of ``plan``; return the errors they raised."""
    ctx = plan.ctx
    errors = []
    guarded = False
    for step in in_scope(AFTER_BUILD, plan.scope):
        if guarded and step.publishes:
            console().step(f"      {step.name}: skipped (nothing published; the published snapshot is "
                           "unchanged)")
            continue
        try:
            _timed(ctx, step.name, partial(step.run, ctx))
        except MeshError as error:
            if plan.scope is not Scope.MESH:
                raise  # a domain's CI stops at its first error: nothing published
            errors.append(f"{step.name}: {error}")
            guarded |= step.guards_publish
    return errors


def _timed(ctx: BuildContext, name: str, run: Callable[[], T]) -> T:
    """``run()``, its wall and CPU seconds (the whole process: DuckDB's threads count)
    added to ``ctx.step_times[name]``, failed or not."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return run()
    finally:
        spent = ctx.step_times.setdefault(name, [0.0, 0.0])
        spent[0] += time.perf_counter() - wall
        spent[1] += time.process_time() - cpu


def invoke(plan: Plan, args: list[str], quiet: bool = False, data: Path | None = None
           ) -> Any:  # dbtRunnerResult
    """``dbt <args>`` in the plan's project, with what it reads for this build's data
    (``data``: the folder dbt is told, default the data itself)."""
    ctx = plan.ctx
    command = [*args, "--project-dir", str(plan.project_dir),
               "--profiles-dir", str(ctx.mesh.profiles_dir)]
    return dbt.invoke(["--quiet", *command] if quiet else command,
                      plan.env(data or ctx.validated_data or ctx.data_dir),
                      cwd=plan.project_dir, root=ctx.mesh.root)


def data_for_dbt(plan: Plan) -> Path | None:
    """The folder the mesh build tells dbt its source data is in: ``data/current``,
    pointed at this build's data first, so that DUCKMESH_DATA has the same value on
    every build and dbt's partial parse keeps the sources (a new value re-parses every
    file that reads it: about 3 CPU s for the mesh, on every build of new data). None
    (the data folder itself) for other builds, or when the link cannot be made."""
    if plan.scope is not Scope.MESH or plan.target is not None:
        return None
    ctx = plan.ctx
    if not link_current_data(ctx.mesh, ctx.validated_data or ctx.data_dir):
        return None
    return ctx.mesh.root / "data" / "current"


# -- the stages of every build ------------------------------------------------------------

def source_data(ctx: BuildContext) -> None:
    """Step 1: the source data at the build's scale (generated once, then reused)."""
    salt.ensure(ctx.mesh)  # before anything runs: in CI a missing salt stops the build here
    console().step(f"[1/4] source data -> {relative(ctx.data_dir, ctx.mesh.root)}")
    result = generate.generate(ctx.data_dir, scale=ctx.scale, seed=ctx.seed)
    console().step(f"      {generate.describe(result)}")
    quarantine.keep_private(ctx.mesh)  # personal data of an older build: 0640 files, 0750 folders


def install_packages(plan: Plan) -> None:
    """Step 2: `dbt deps`, unless what it would install is installed."""
    ctx = plan.ctx
    if plan.deps.current:
        console().step(f"[2/4] dbt deps{plan.where}: packages installed and unchanged since the last "
                       "install (skipped); then the checks before dbt")
        return
    console().step(f"[2/4] dbt deps{plan.where} (install the domains), then the checks before dbt")
    args = deps_args(plan.project_dir, list(plan.deps_folders), plan.env(ctx.data_dir))
    dbt.require_success(invoke(plan, args, quiet=True), "deps")
    plan.deps.save()


def dbt_build(plan: Plan) -> Any:  # dbtRunnerResult
    """Step 3: `dbt build` with the plan's arguments, the mesh's over data/current
    (data_for_dbt); the mesh's manifest stamped for the governance check."""
    ctx, options, last = plan.ctx, plan.options, plan.last_build
    target = ["--target", plan.target] if plan.target else []
    console().step(f"[3/4] {' '.join(['dbt build', *target])} -> {relative(last.database, ctx.mesh.root)}")
    args = ["build", *target, *plan.dbt_args]
    if options.select:
        args += ["--select", options.select]
    if options.full_refresh:
        args.append("--full-refresh")
    elif last.switched:
        console().step(f"      another data set than the last {plan.label} (scale, seed or "
                       "DUCKMESH_DATA): --full-refresh, so incremental products are rebuilt")
        args.append("--full-refresh")
    if options.changed_only and not options.select:
        selection, reason = last.selection()
        console().step(f"      --changed-only: {reason}")
        args += selection
    # the files dbt is about to parse: `duckmesh governance check` judges this build's
    # manifest without dbt while they stay so (core/fingerprint.py)
    stamp = fingerprint.ManifestStamp.before_parse(ctx.mesh) if plan.scope is Scope.MESH else None
    data = data_for_dbt(plan)
    outcome = _timed(ctx, "dbt build", lambda: invoke(plan, args, data=data))
    if stamp is not None:
        stamp.record(ctx.mesh.manifest_path)
    if plan.target is None:  # the workspace's own artifacts
        ctx.dbt_ran()
    ctx.build_seconds = ctx.step_times["dbt build"][0]
    ctx.success = bool(outcome.success)
    return outcome


def stop(plan: Plan, outcome: Any) -> None:
    """A domain or Spark build stops at a failed dbt build: one line saying so."""
    if plan.target:
        dbt.require_success(outcome, f"build --target {plan.target}")
    error = str(outcome.exception) if outcome.exception else \
        "dbt build failed (see the output above)"
    name = getattr(plan.ctx.mesh, "domain", "")
    if plan.scope is Scope.CI:
        raise MeshError(f"domain {name}: dbt build failed, nothing published (the last "
                        f"publish stays current): {error}")
    raise MeshError(f"dbt build of domain {name} failed: {error}")


def govern(plan: Plan) -> None:
    """Every policy over this build's manifest (governance/gate.py): the whole mesh's,
    the models dbt did not compile (not selected) judged by the SQL of the last build
    or publish; a domain's own nodes with the mesh's settings (domain.govern)."""
    ctx = plan.ctx
    if plan.scope & ONE_DOMAIN:
        domain.govern(ctx)
        return
    mesh = ctx.mesh
    manifest = gate.manifest_with_sql(ctx.artifacts.manifest,
                                      fingerprint.state_dir(mesh) / "manifest.json",
                                      mesh.root / "published" / "manifest.json")
    gate.require(mesh, manifest, "this build", macros_ran=gate.hook_passed(
        ctx.artifacts.manifest, ctx.artifacts.run_results))


def nothing_ran(artifacts: Artifacts) -> bool:
    """True when the last dbt invocation selected no node at all."""
    if artifacts.run_results is None:
        return False
    results = artifacts.run_results.get("results") or []
    return not [r for r in results if not r["unique_id"].startswith("operation.")]


def data_records(plan: Plan) -> dict[str, dict[str, str]]:
    """What the data steps decided, to reuse on a changed-only build (see restore)."""
    validated = plan.ctx.validated_data
    return {step.name: ({"DUCKMESH_DATA": str(validated)} if validated else {})
            for step in in_scope(BEFORE_BUILD, plan.scope) if step.data_step}


def restore(ctx: BuildContext, record: dict[str, str]) -> None:
    """Apply a data step's recorded outcome to ``ctx``."""
    if record.get("DUCKMESH_DATA"):
        ctx.validated_data = Path(record["DUCKMESH_DATA"])


def link_current_data(mesh: Mesh, folder: Path) -> bool:
    """Point ``data/current`` at the source data this build reads, the sources' default
    DUCKMESH_DATA: a plain `dbt build --profiles-dir profiles` or `dbt docs generate` at
    the root then reads the last build's data set (a relative link: the mesh can move).
    False, with a line, when the link cannot be made."""
    link = mesh.root / "data" / "current"
    if folder.resolve() == link.resolve():
        return True  # already there (or DUCKMESH_DATA names the link itself)
    try:
        link.parent.mkdir(parents=True, exist_ok=True)
        partial = link.with_name(".current.tmp")
        if partial.is_symlink():
            partial.unlink()
        partial.symlink_to(os.path.relpath(folder, link.parent), target_is_directory=True)
        os.replace(partial, link)
    except OSError as error:
        console().warn(f"      note: could not link {relative(link, mesh.root)} to the build's data "
                       f"({error}); plain dbt needs DUCKMESH_DATA set", err=False)
        return False
    return True


def record_stopped(mesh: Mesh, options: BuildOptions) -> None:
    """A build stopped before dbt (a source check, deps) is still a run: observability
    records it as failed, with no nodes; nothing is published."""
    if not mesh.manifest_path.exists() or not mesh.db_path.exists():
        return  # never built: nothing to record against
    ctx = BuildContext(mesh, options.scale, mesh.data_dir(options.scale), seed=options.seed)
    try:
        observability.after_build(ctx)
    except MeshError as error:
        console().warn(f"observability: the stopped run was not recorded ({error})", err=False)
    finally:
        ctx.close()


def step_line(times: dict[str, list[float]]) -> str:
    """platform steps 0.91s (1.25 CPU s) beside dbt build 9.5s: source_checks 0.12s, ..."""
    steps = {name: spent for name, spent in times.items() if name != "dbt build"}
    wall = sum(spent[0] for spent in steps.values())
    cpu = sum(spent[1] for spent in steps.values())
    beside = f" beside dbt build {times['dbt build'][0]:.1f}s" if "dbt build" in times else ""
    each = ", ".join(f"{name} {spent[0]:.2f}s" for name, spent in steps.items())
    return f"platform steps {wall:.2f}s ({cpu:.2f} CPU s){beside}: {each}"


def print_summary(ctx: BuildContext) -> None:
    console().step("[4/4] data products")
    console().out(summary(ctx))


def summary(ctx: BuildContext) -> str:
    products = public_products(ctx.artifacts.manifest)
    counts = row_counts(ctx.mesh.db_path, products, ctx.database())
    rows = []
    for product in products:
        count = counts[product.relation]
        notes = []
        if product.is_latest:
            notes.append(f"latest -> {product.schema}.{product.name}")
        if product.deprecation_date:
            notes.append(f"deprecated {product.deprecation_date[:10]}")
        rows.append([product.domain, product.name, f"v{product.version}",
                     "missing" if count is None else f"{count:,}", product.relation,
                     ", ".join(notes)])
    return format_table(["domain", "product", "version", "rows", "relation", "notes"], rows)

