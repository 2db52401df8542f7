"""The build: source data, dbt deps, the steps before dbt, `dbt build`, the steps after.

The platform's steps are the two lists below, in order; each is a function of the one
BuildContext, which carries the settings, the source data and, after dbt ran, the
manifest and run results (read once). A MeshError from a step before the build stops
it before dbt runs; the steps after the build run after a failed build too
(``ctx.success`` is False), so the history records what ran.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

from duckmesh.build import state as build_state
from duckmesh.build.deps import deps_args
from duckmesh.catalog import store as catalog_store
from duckmesh.consumers import impact
from duckmesh.core import dbt, salt
from duckmesh.core.context import BuildContext
from duckmesh.core.locks import require_writable
from duckmesh.core.output import console, format_table
from duckmesh.core.products import public_products, row_counts
from duckmesh.core.project import Mesh, MeshError, relative
from duckmesh.governance import gate, parse_checks
from duckmesh.governance import inputs as governance_inputs
from duckmesh.observability import pipeline as observability
from duckmesh.publish import publisher
from duckmesh.sources import generate, quarantine

T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[BuildContext], None]
    # its outcome depends only on the source files: a --changed-only build over unchanged
    # data reuses the recorded outcome instead of running it
    data_step: bool = False
    # an error here means nothing may be published: the publishing steps are skipped
    guards_publish: bool = False
    publishes: bool = False


# Consumer access is governance policy P11 (macros/governance/), checked by dbt itself
# before any model builds: no step and no separate `dbt parse` here.
BEFORE_BUILD: tuple[Step, ...] = (
    Step("published_check", publisher.before_build),  # P09 reads the last publish
    Step("project_checks", parse_checks.before_build),
    Step("source_checks", quarantine.check_sources, data_step=True),
)

# the consumer impact check before publish (a read it would break publishes nothing);
# publish before the catalog, which names the Parquet port publish has just written
AFTER_BUILD: tuple[Step, ...] = (
    Step("consumer_impact", impact.after_build, guards_publish=True),
    Step("publish", publisher.after_build, publishes=True),
    Step("catalog", catalog_store.after_build),
    Step("observability", observability.after_build),
)


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


@dataclass(frozen=True)
class BuildOptions:
    scale: float = 0.1
    seed: int = 42
    select: str | None = None
    full_refresh: bool = False
    changed_only: bool = False


def prepare(mesh: Mesh, scale: float, seed: int, changed_only: bool = False) -> BuildContext:
    """Steps 1-2 of every build, whatever the engine: the source data at ``scale``, the
    domains installed (dbt deps) and the BEFORE_BUILD steps."""
    salt.ensure(mesh)  # before anything runs: in CI a missing salt stops the build here
    ctx = BuildContext(mesh, scale, mesh.data_dir(scale), seed=seed, changed_only=changed_only)
    console().step(f"[1/4] source data -> {relative(ctx.data_dir, mesh.root)}")
    result = generate.generate(ctx.data_dir, scale=scale, seed=seed)
    console().step(f"      {generate.describe(result)}")
    quarantine.keep_private(mesh)  # personal data of an older build: 0640 files, 0750 folders

    if build_state.deps_current(mesh):
        console().step("[2/4] dbt deps: packages installed and unchanged since the last install "
                       "(skipped); then the checks before dbt")
    else:
        console().step("[2/4] dbt deps (install the domains), then the checks before dbt")
        env = {**mesh.env(), **ctx.dbt_env}
        dbt.require_success(dbt.run_dbt(mesh, deps_args(mesh.root, mesh.domain_dirs(), env),
                                        ctx.dbt_env, quiet=True), "deps")
        build_state.record_deps(mesh)

    # --changed-only on unchanged source data: the data steps' outcome is the last one
    reused = build_state.data_step_overrides(mesh, ctx.data_dir) if changed_only else None
    for step in BEFORE_BUILD:
        if reused is not None and step.data_step:
            console().step(f"      {step.name}: source data unchanged since the last build, skipped")
            build_state.restore(ctx, reused.get(step.name, {}))
            continue
        _timed(ctx, step.name, partial(step.run, ctx))
    return ctx


def build(mesh: Mesh, options: BuildOptions) -> int:
    """`duckmesh build`: the whole pipeline; prints what each step did."""
    started = time.perf_counter()
    require_writable(mesh.db_path)
    try:
        ctx = prepare(mesh, options.scale, options.seed, options.changed_only)
    except MeshError:
        record_stopped(mesh, options)
        raise
    console().step(f"[3/4] dbt build -> {relative(mesh.db_path, mesh.root)}")
    build_args = ["build"]
    if options.select:
        build_args += ["--select", options.select]
    if options.full_refresh:
        build_args.append("--full-refresh")
    elif build_state.switched_data_set(mesh, ctx.data_dir):
        console().step("      another data set than the last build (scale, seed or DUCKMESH_DATA): "
                       "--full-refresh, so incremental products are rebuilt")
        build_args.append("--full-refresh")
    if options.changed_only and not options.select:
        selection, reason = build_state.selection(mesh, ctx.data_dir)
        console().step(f"      --changed-only: {reason}")
        build_args += selection
    # the files dbt is about to parse: `duckmesh governance check` judges this build's
    # manifest without dbt while they stay so (governance/inputs.py)
    parsed_from, parse_started = governance_inputs.fingerprint(mesh), time.time_ns()
    outcome = _timed(ctx, "dbt build", lambda: dbt.run_dbt(mesh, build_args, ctx.dbt_env))
    governance_inputs.record(mesh.target_dir / "manifest.json", parsed_from, parse_started)
    ctx.dbt_ran()
    link_current_data(mesh, ctx.validated_data or ctx.data_dir)
    ctx.build_seconds = ctx.step_times["dbt build"][0]
    ctx.success = bool(outcome.success)
    # the whole policy check over what this build publishes, whatever dbt selected (dbt
    # runs no on-run-start hook for an empty selection)
    governance_error: MeshError | None = None
    if ctx.results_written:
        try:
            _timed(ctx, "governance_gate", partial(govern, ctx))
            ctx.governed = True
        except MeshError as error:
            governance_error, ctx.success = error, False
    if ctx.success and not options.select:
        build_state.save(mesh, ctx.data_dir, build_state.data_records(ctx), options.scale)
    if options.changed_only and ctx.success and build_state.nothing_ran(ctx.artifacts):
        console().out(f"\nnothing changed since the last build ({ctx.build_seconds:.1f}s): "
                      f"{mesh.db_path} is up to date")
        return 0
    try:
        step_errors = run_after_build(ctx)
        build_state.save_step_times(mesh, ctx.step_times)
        dbt.require_success(outcome, "build", printed=True)
        if governance_error is not None:
            raise governance_error
        if step_errors:
            raise MeshError("; ".join(step_errors))
        console().step("[4/4] data products")
        console().out(summary(ctx))
    finally:
        ctx.close()
    total = time.perf_counter() - started
    console().out(f"\n{step_line(ctx.step_times)}")
    console().out(f"mesh built in {total:.1f}s (dbt build {ctx.build_seconds:.1f}s) "
                  f"at scale {options.scale:g}: {mesh.db_path}")
    return 0


def govern(ctx: BuildContext) -> None:
    """Every policy over this build's manifest (governance/gate.py), the models dbt did
    not compile (not selected) judged by the SQL of the last build or publish."""
    mesh = ctx.mesh
    manifest = gate.manifest_with_sql(ctx.artifacts.manifest,
                                      build_state.state_dir(mesh) / "manifest.json",
                                      mesh.root / "published" / "manifest.json")
    gate.require(mesh, manifest, "this build", macros_ran=gate.hook_passed(
        ctx.artifacts.manifest, ctx.artifacts.run_results))


def link_current_data(mesh: Mesh, folder: Path) -> None:
    """Point ``data/current`` at the source data this build read, the sources' default
    DUCKMESH_DATA: a plain `dbt build --profiles-dir profiles` or `dbt docs generate` at
    the root then reads the last build's data set (a relative link: the mesh can move)."""
    link = mesh.root / "data" / "current"
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


def run_after_build(ctx: BuildContext) -> list[str]:
    """Run the AFTER_BUILD steps; return the errors they raised."""
    errors = []
    guarded = False
    for step in AFTER_BUILD:
        if guarded and step.publishes:
            console().step(f"      {step.name}: skipped (nothing published; the published snapshot is "
                           "unchanged)")
            continue
        try:
            _timed(ctx, step.name, partial(step.run, ctx))
        except MeshError as error:
            errors.append(f"{step.name}: {error}")
            guarded |= step.guards_publish
    return errors


def step_line(times: dict[str, list[float]]) -> str:
    """platform steps 0.91s (1.25 CPU s) beside dbt build 9.5s: source_checks 0.12s, ..."""
    steps = {name: spent for name, spent in times.items() if name != "dbt build"}
    wall = sum(spent[0] for spent in steps.values())
    cpu = sum(spent[1] for spent in steps.values())
    beside = f" beside dbt build {times['dbt build'][0]:.1f}s" if "dbt build" in times else ""
    each = ", ".join(f"{name} {spent[0]:.2f}s" for name, spent in steps.items())
    return f"platform steps {wall:.2f}s ({cpu:.2f} CPU s){beside}: {each}"


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
