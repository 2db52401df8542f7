"""Platform overhead: what governance, catalog, observability and publish add to a build,
each as a share of the `dbt build` time. Governance is dbt's on-run-start hook (its time
from run_results.json); the others are the build's BEFORE_BUILD / AFTER_BUILD steps,
timed one by one around an in-process `dbt build` in a work copy of the mesh. The builds
go into one database file, as `duckmesh build` run again does: the first is cold (an
empty database, no snapshot, validation cache or stamp), the others warm (the same
source files and project). Wall seconds per step; CPU seconds (the process, all its
threads) of the warm builds as well. Then the same builds as a user runs them, each a
fresh `duckmesh build` process (its step times from target/last_build/steps.json, the
governance hook from run_results.json): there dbt compiles the policy macros' Jinja in
every process, which the in-process builds do only once.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

from benchmarks.bench_common import (
    Figure,
    add_standard_arguments,
    dbt_env,
    median,
    run_cpu,
    run_standard,
    timed,
    work_copy,
)
from duckmesh.build import pipeline as build
from duckmesh.core import dbt, fingerprint
from duckmesh.core.context import BuildContext
from duckmesh.core.project import Mesh

# capability -> the build steps (build.pipeline Step.name) that belong to it
CAPABILITIES = {
    "catalog": ("catalog",),
    "observability": ("observability",),
    "publish": ("publish", "published_check"),
    "source checks": ("source_checks",),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 3, "builds")


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "platform", measure)


def _capability(step_name: str) -> str:
    for name, steps in CAPABILITIES.items():
        if step_name in steps:
            return name
    return step_name


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    with work_copy(mesh, scale, work) as (copy, data_dir):
        dbt.require_success(dbt.run_dbt(copy, ["deps"], copy.env(data_dir), quiet=True), "deps")
        samples: dict[str, list[float]] = {"dbt build": [], "governance": []}
        for name in CAPABILITIES:
            samples[name] = []
        cpu: dict[str, list[float]] = {}
        run_mesh = Mesh(copy.root, replace(copy.settings, db=copy.root / "mesh.duckdb",
                                           data=data_dir))
        for _ in range(repeat):
            one, one_cpu = _one_build(run_mesh, data_dir, scale)
            for key, seconds in one.items():
                samples.setdefault(key, []).append(seconds)
            for key, seconds in one_cpu.items():
                cpu.setdefault(key, []).append(seconds)
        fresh = _fresh_builds(copy, data_dir, scale, repeat)
    return _figures(samples, cpu) + _fresh_figures(fresh), {
        "scale": scale, "samples": samples, "cpu": cpu, "fresh_process": fresh,
        "before_build": [s.name for s in build.in_scope(build.BEFORE_BUILD, build.Scope.MESH)],
        "after_build": [s.name for s in build.in_scope(build.AFTER_BUILD, build.Scope.MESH)]}


def _fresh_builds(copy: Mesh, data_dir: Path, scale: float, repeat: int
                  ) -> list[dict[str, dict[str, float]]]:
    """``repeat`` warm `duckmesh build` processes after one not counted (it may install
    packages or record the data set): each one's step times, and the governance hook."""
    env = dbt_env(copy.root / "mesh.duckdb", data_dir)
    command = [sys.executable, "-m", "duckmesh.cli", "--project-dir", str(copy.root),
               "build", "--scale", f"{scale:g}"]
    runs = []
    for attempt in range(repeat + 1):
        run_cpu(command, copy.root, env)
        if attempt == 0:
            continue
        steps = json.loads((fingerprint.state_dir(copy) / fingerprint.STEPS).read_text())
        results = json.loads((copy.target_dir / "run_results.json").read_text())
        steps["governance hook"] = {"wall": sum(
            r["execution_time"] for r in results["results"]
            if r["unique_id"].startswith("operation.")), "cpu": 0.0}
        runs.append(steps)
    return runs


def _fresh_figures(runs: list[dict[str, dict[str, float]]]) -> list[Figure]:
    """Shares of the `dbt build` of fresh processes: the steps outside dbt (wall, CPU)
    and the governance hook inside it (wall)."""
    if not runs:
        return []
    shares: dict[str, list[float]] = {"wall": [], "CPU": [], "hook": []}
    for run in runs:
        steps = [v for name, v in run.items() if name not in ("dbt build", "governance hook")]
        shares["wall"].append(100 * sum(v["wall"] for v in steps) / run["dbt build"]["wall"])
        shares["CPU"].append(100 * sum(v["cpu"] for v in steps) / run["dbt build"]["cpu"])
        shares["hook"].append(100 * run["governance hook"]["wall"] / run["dbt build"]["wall"])
    build_s = median([run["dbt build"]["wall"] for run in runs])
    return [
        Figure("platform", "fresh process: steps outside dbt, warm", median(shares["wall"]),
               unit="%", target="<= 8%", samples=shares["wall"],
               note=f"dbt build {build_s:.2f} s; `duckmesh build` processes"),
        Figure("platform", "fresh process: steps outside dbt, warm (CPU)",
               median(shares["CPU"]), unit="%", target="<= 8%", samples=shares["CPU"]),
        Figure("platform", "fresh process: governance hook inside dbt", median(shares["hook"]),
               unit="%", samples=shares["hook"],
               note="the policy macros compiled once per process"),
    ]


def _one_build(copy: Mesh, data_dir: Path, scale: float
               ) -> tuple[dict[str, float], dict[str, float]]:
    """Wall seconds of each step of one build, and CPU seconds of the build and of the
    platform steps together."""
    seconds: dict[str, float] = {name: 0.0 for name in CAPABILITIES}
    cpu = {"dbt build": 0.0, "platform steps": 0.0}
    sink = io.StringIO()
    ctx = BuildContext(copy, scale, data_dir)
    for step in build.in_scope(build.BEFORE_BUILD, build.Scope.MESH):
        started = time.process_time()
        with contextlib.redirect_stdout(sink):
            _, took = timed(partial(step.run, ctx))
        cpu["platform steps"] += time.process_time() - started
        seconds[_capability(step.name)] = seconds.get(_capability(step.name), 0.0) + took
    started = time.process_time()
    with contextlib.redirect_stdout(sink):
        outcome, build_seconds = timed(
            lambda: dbt.run_dbt(copy, ["build"], ctx.dbt_env, quiet=True))
    cpu["dbt build"] = time.process_time() - started
    dbt.require_success(outcome, "build")
    ctx.dbt_ran()
    ctx.success, ctx.build_seconds = True, build_seconds
    results = ctx.artifacts.run_results or {"results": []}
    seconds["governance"] = sum(r["execution_time"] for r in results["results"]
                                if r["unique_id"].startswith("operation."))
    seconds["dbt build"] = build_seconds
    for step in build.in_scope(build.AFTER_BUILD, build.Scope.MESH):
        started = time.process_time()
        with contextlib.redirect_stdout(sink):
            _, took = timed(partial(step.run, ctx))
        cpu["platform steps"] += time.process_time() - started
        seconds[_capability(step.name)] = seconds.get(_capability(step.name), 0.0) + took
    ctx.close()
    return seconds, cpu


def _figures(samples: dict[str, list[float]], cpu: dict[str, list[float]]) -> list[Figure]:
    build_s = median(samples["dbt build"])
    present = {_capability(s.name) for s in build.in_scope((*build.BEFORE_BUILD, *build.AFTER_BUILD),
                                                         build.Scope.MESH)}
    present.add("governance")
    figures = [Figure("platform", "dbt build (in-process)", build_s, samples=samples["dbt build"],
                      note="governance hook included")]
    total = 0.0
    others = sorted(set(samples) - {"dbt build", "governance", *CAPABILITIES})
    for name in ["governance", *CAPABILITIES, *others]:
        if name not in present:
            figures.append(Figure("platform", f"{name} share", None, unit="%",
                                  note="step not registered in build.py"))
            continue
        seconds = median(samples[name])
        total += seconds
        figures.append(Figure("platform", f"{name} share", 100 * seconds / build_s, unit="%",
                              samples=samples[name], note=f"{seconds:.2f} s"))
    figures.append(Figure("platform", "platform steps together", 100 * total / build_s,
                          unit="%", target="<= 8% (warm)",
                          note=f"{total:.2f} s; median of the builds (from the 2nd: warm)"))
    steps = [name for name in samples if name != "dbt build" and name in present]
    if len(samples["dbt build"]) > 1:  # the first build is cold, the others warm
        warm = [sum(samples[name][i] for name in steps) / samples["dbt build"][i]
                for i in range(1, len(samples["dbt build"]))]
        figures.append(Figure("platform", "platform steps together, warm builds only",
                              100 * median(warm), unit="%", target="<= 8%",
                              samples=[100 * w for w in warm]))
    if len(cpu.get("dbt build", [])) > 1:
        warm_cpu = [cpu["platform steps"][i] / cpu["dbt build"][i]
                    for i in range(1, len(cpu["dbt build"]))]
        figures.append(Figure(
            "platform", "platform steps together, warm builds only (CPU)", 100 * median(warm_cpu),
            unit="%", target="<= 8%", samples=[100 * w for w in warm_cpu],
            note=f"dbt build {median(cpu['dbt build'][1:]):.2f} CPU s, steps "
                 f"{median(cpu['platform steps'][1:]):.2f} CPU s (governance inside dbt)"))
    cold = sum(samples[name][0] for name in steps)
    figures.append(Figure("platform", "platform steps together, cold first build",
                          100 * cold / samples["dbt build"][0], unit="%",
                          note=f"{cold:.2f} s: no snapshot, validation cache or stamp yet"))
    return figures
