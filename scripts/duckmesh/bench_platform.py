"""Platform overhead: what governance, catalog, observability and publish add to a build,
each as a share of the `dbt build` time. Governance is dbt's on-run-start hook (its time
from run_results.json); the others are the build's BEFORE_BUILD / AFTER_BUILD steps,
timed one by one around an in-process `dbt build` in a work copy of the mesh.
A step whose module is not present is reported as 'not available'."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
from pathlib import Path

from . import build, dbt
from .bench_common import Figure, add_standard_arguments, median, run_standard, timed, work_copy
from .project import Mesh

# capability -> the step specs (module:function) that belong to it
CAPABILITIES = {
    "catalog": ("duckmesh.catalog:",),
    "observability": ("duckmesh.observability",),
    "publish": ("duckmesh.publish:",),
    "source checks": ("duckmesh.quarantine:",),  # publish's source validation
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_standard_arguments(parser, 3, "builds")


def run(args: argparse.Namespace) -> int:
    return run_standard(args, "platform", measure)


def _capability(spec: str) -> str:
    for name, prefixes in CAPABILITIES.items():
        if spec.startswith(prefixes):
            return name
    return spec.split(":")[0].removeprefix("duckmesh.")


def _step(spec: str):
    module_name, function_name = spec.split(":")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError):
        return None


def measure(mesh: Mesh, scale: float, repeat: int, work: Path | None = None
            ) -> tuple[list[Figure], dict]:
    with work_copy(mesh, scale, work) as (copy, data_dir):
        env = {**copy.env(data_dir), "DUCKMESH_DB": str(copy.root / "mesh.duckdb")}
        dbt.require_success(dbt.run_dbt(copy, ["deps"], env, quiet=True), "deps")
        samples: dict[str, list[float]] = {"dbt build": [], "governance": []}
        for name in CAPABILITIES:
            samples[name] = []
        for attempt in range(repeat):
            # a new file per build: dbt-duckdb keeps its database open in this process
            run_env = {**env, "DUCKMESH_DB": str(copy.root / f"mesh_{attempt + 1}.duckdb")}
            with dbt.environ(run_env):  # the steps read DUCKMESH_DB / DUCKMESH_DATA
                one = _one_build(copy, data_dir, scale, dict(run_env))
            for key, seconds in one.items():
                samples.setdefault(key, []).append(seconds)
    return _figures(samples), {"scale": scale, "samples": samples,
                               "before_build": build_steps("BEFORE_BUILD"),
                               "after_build": build_steps("AFTER_BUILD")}


def build_steps(name: str) -> list[str]:
    return list(getattr(build, name, []))


def _one_build(copy: Mesh, data_dir: Path, scale: float, env: dict[str, str]
               ) -> dict[str, float]:
    seconds: dict[str, float] = {name: 0.0 for name in CAPABILITIES}
    sink = io.StringIO()
    for spec in build_steps("BEFORE_BUILD"):
        step = _step(spec)
        if step is None:
            continue
        with contextlib.redirect_stdout(sink):
            overrides, took = timed(lambda: step(copy, data_dir, dict(env)))
        env.update(overrides or {})
        seconds[_capability(spec)] = seconds.get(_capability(spec), 0.0) + took
    with contextlib.redirect_stdout(sink):
        outcome, build_seconds = timed(lambda: dbt.run_dbt(copy, ["build"], env, quiet=True))
    dbt.require_success(outcome, "build")
    results = dbt.load_run_results(copy) or {"results": []}
    seconds["governance"] = sum(r["execution_time"] for r in results["results"]
                                if r["unique_id"].startswith("operation."))
    seconds["dbt build"] = build_seconds
    context = build.BuildContext(copy, data_dir, scale, True, build_seconds, env)
    for spec in build_steps("AFTER_BUILD"):
        step = _step(spec)
        if step is None:
            continue
        with contextlib.redirect_stdout(sink):
            _, took = timed(lambda: step(context))
        seconds[_capability(spec)] = seconds.get(_capability(spec), 0.0) + took
    return seconds


def _figures(samples: dict[str, list[float]]) -> list[Figure]:
    build_s = median(samples["dbt build"])
    present = {_capability(s) for s in build_steps("BEFORE_BUILD") + build_steps("AFTER_BUILD")
               if _step(s) is not None}
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
                          unit="%", target="<= 10%", note=f"{total:.2f} s"))
    return figures
