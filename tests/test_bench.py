"""The growth and peer benchmarks' own logic, without running a build: what the plain
peer project loses, and how growth turns seconds into ratios and costs per million
orders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from benchmarks import bench_growth, bench_peer, bench_platform
from conftest import copy_mesh


def test_the_plain_peer_loses_only_the_hooks(tmp_path: Path) -> None:
    mesh = copy_mesh(tmp_path / "mesh")
    projects = [mesh / "dbt_project.yml", *sorted((mesh / "domains").glob("*/dbt_project.yml"))]
    before = {p: yaml.safe_load(p.read_text()) for p in projects}
    removed = {p.relative_to(mesh).as_posix(): bench_peer.strip_platform_hooks(p)
               for p in projects}
    assert removed == {
        "dbt_project.yml": ["on-run-start", "models.duckmesh.products.+post-hook"],
        **{f"domains/{d}/dbt_project.yml": ["on-run-start", f"models.{d}.products.+post-hook"]
           for d in ("customer_service", "customers", "marketing", "sales")}}
    for project in projects:
        after = yaml.safe_load(project.read_text())
        expected = before[project]
        del expected["on-run-start"]
        products = expected["models"][expected["name"]]["products"]
        del products["+post-hook"]
        assert after == expected  # everything else, contracts included, is kept


def test_growth_reports_ratios_and_cost_per_million_orders() -> None:
    def sides(floor: float, dbt: float, duckmesh: float) -> dict[str, float]:
        return {"floor wall": floor, "floor CPU": 2 * floor, "dbt wall": dbt,
                "dbt CPU": 2 * dbt, "duckmesh wall": duckmesh, "duckmesh CPU": 2 * duckmesh,
                "peak RSS GB (floor, largest so far)": 0.5,
                "peak RSS GB (dbt, largest so far)": 0.75,
                "peak RSS GB (duckmesh, largest so far)": 1.0}

    figures = {f.name: f for f in bench_growth.figures_of(
        {1.0: sides(10.0, 13.0, 16.0), 10.0: sides(80.0, 90.0, 120.0)}, {"memory_limit": "8GB"})}
    assert figures["scale 1: dbt / floor"].value == pytest.approx(1.3)
    assert figures["scale 10: duckmesh build (cold) / floor"].value == pytest.approx(1.5)
    assert figures["scale 10: dbt"].note.startswith("CPU 180.0 s; 9.00 s wall, 18.00 s CPU")
    # 10 s per million orders at scale 1, 8 s at scale 10: the cost falls to 0.8x
    per_million = figures["cost per million orders, floor wall: scale 10 / scale 1"]
    assert per_million.value == pytest.approx(0.8)
    assert per_million.note == "10.00 -> 8.00 s per million orders"
    assert figures["cost per million orders, duckmesh CPU: scale 10 / scale 1"].value == \
        pytest.approx(0.75)
    assert "memory_limit 8GB" in figures["scale 10: peak RSS, dbt"].note


def test_growth_reports_the_steady_state_against_the_floor() -> None:
    """A build of a new data set: the whole build, its publish and dbt build steps as
    shares of the floor in CPU seconds, with the goals of each scale."""
    measured = {"floor wall": 10.0, "floor CPU": 20.0, "steady wall": 13.0,
                "steady CPU": 26.0, "steady publish wall": 1.5, "steady publish CPU": 2.0,
                "steady dbt build wall": 11.0, "steady dbt build CPU": 23.0,
                "peak RSS GB (floor, largest so far)": 0.5,
                "peak RSS GB (steady, largest so far)": 1.5}
    figures = {f.name: f for f in bench_growth.figures_of(
        {1.0: measured, 10.0: measured}, {"memory_limit": "8GB"})}
    whole = figures["scale 1: duckmesh build, new data / floor (CPU)"]
    assert (whole.value, whole.target) == (pytest.approx(1.3), "<= 1.4x")
    assert whole.note == "26.0 against 20.0 CPU s; wall 1.30x"
    assert figures["scale 10: duckmesh build, new data / floor (CPU)"].target == "<= 1.2x"
    publish = figures["scale 1: publish step, new data / floor (CPU)"]
    assert (publish.value, publish.target) == (pytest.approx(0.1), "<= 0.15x")
    assert publish.note == "publish 2.0 CPU s, 1.5 s wall"
    assert figures["scale 1: dbt build step, new data / floor (CPU)"].value == \
        pytest.approx(1.15)
    assert figures["scale 10: peak RSS, steady"].value == 1.5


def test_a_benchmarks_help_lists_its_own_options(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.cli import main

    with pytest.raises(SystemExit) as done:
        main(["growth", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: duckmesh bench growth [-h] [--scales SCALES] [--repeat REPEAT]")
    assert "--sides SIDES" in out and "--work WORK" in out


def test_platform_shares_of_fresh_processes() -> None:
    """Steps outside dbt as shares of its wall and CPU time, and the hook inside it."""
    def run(build: float, steps: float, hook: float) -> dict[str, dict[str, float]]:
        return {"project_checks": {"wall": steps / 2, "cpu": steps},
                "dbt build": {"wall": build, "cpu": 2 * build},
                "publish": {"wall": steps / 2, "cpu": steps},
                "governance hook": {"wall": hook, "cpu": 0.0}}
    figures = {f.name: f for f in bench_platform._fresh_figures(
        [run(10.0, 1.0, 0.5), run(8.0, 1.2, 0.4), run(12.0, 0.6, 0.6)])}
    # wall: 1/10, 1.2/8, 0.6/12 -> median 10%; CPU: 2/20, 2.4/16, 1.2/24 -> median 10%
    assert figures["fresh process: steps outside dbt, warm"].value == pytest.approx(10.0)
    assert figures["fresh process: steps outside dbt, warm (CPU)"].value == pytest.approx(10.0)
    assert figures["fresh process: governance hook inside dbt"].value == pytest.approx(5.0)
    assert figures["fresh process: steps outside dbt, warm"].note.startswith("dbt build 10.00 s")
    assert bench_platform._fresh_figures([]) == []


def test_the_trust_probe_classifies_and_counts() -> None:
    """`bench probe`: a case is handled well only when refused in one line;
    a traceback, a secret in the output, a success where a refusal was due or a refusal
    over several lines is its bad class."""
    import subprocess

    from benchmarks import probe_trust

    def done(code: int, out: str = "", err: str = "") -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess([], code, out, err)

    refused = "duckmesh query: error: no SQL given: pass one query\n"
    assert probe_trust.refusal(done(2, err=refused)).result == "handled well"
    assert probe_trust.refusal(done(1, err="Traceback (most recent call last):\n  x\n")
                               ).result == "TRACEBACK"
    assert probe_trust.refusal(done(0, out="root:x:0:0:root:/root:/bin/bash"),
                               secrets=("root:x:0:0",)).result == "LEAK"
    assert probe_trust.refusal(done(0, out="(1 row)")).result == "ACCEPTED"
    assert probe_trust.refusal(done(1, err="usage: x\n\nError: y\n")).result == "UNCLEAR"
    rows = [["a", "salt", "handled well", "1", ""], ["b", "input", "TRACEBACK", "1", ""],
            ["c", "modes", "LOOSE MODES", "0", ""]]
    assert probe_trust.counts(rows) == ("3 cases: 1 handled well, 1 TRACEBACK, 0 ACCEPTED, "
                                        "0 LEAK, 1 LOOSE MODES, 0 UNCLEAR")
    assert {c.area for c in probe_trust.CASES} == {"salt", "modes", "sandbox", "input"}
    assert len({c.name for c in probe_trust.CASES}) == len(probe_trust.CASES) == 21


def test_bench_help_has_the_shape_of_every_commands_help(
        capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.cli import BENCHMARKS
    from duckmesh.cli import main

    assert main(["bench", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: duckmesh bench BENCHMARK [OPTIONS]\n\n  Benchmarks that ")
    listed = [line.split()[0] for line in out.split("Benchmarks:\n")[1].splitlines()
              if line.startswith("  ") and not line.startswith("    ")]
    assert listed == ["synthetic", *BENCHMARKS]


def test_a_benchmarks_help_keeps_its_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.cli import main

    with pytest.raises(SystemExit):
        main(["probe", "--help"])
    out = capsys.readouterr().out
    # the module's paragraphs and its table of columns, as written, not one long paragraph
    assert ("The bad-input probe: every kind of broken source file, one build "
            "each.\n\nA mesh is built once") in out
    assert "\n    probe      format and damage\n" in out
    assert max(len(line) for line in out.splitlines()) <= 100
