"""CLI start-up: `duckmesh --help` and `duckmesh query "select 1"` as whole processes
(interpreter start, imports, the command), next to `python -c pass` measured in the
same run, so the figure says what DuckMesh adds on this machine. The query runs
against a small database file made for the purpose, so no build is needed. Also
checks that neither command imported dbt (the lazy command groups)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from benchmarks.bench_common import Figure, median, print_table, write_json
from duckmesh.core.project import find_mesh

TARGET_SECONDS = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=7, help="runs per command (default 7)")


def _wall(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def _imports_dbt(args: list[str], db: Path) -> bool:
    """Run the command in a fresh interpreter and report whether dbt got imported."""
    probe = ("import sys\nfrom duckmesh.cli import main\n"
             "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print('DBT_IMPORTED' if any(m == 'dbt' or m.startswith('dbt.') "
             "for m in sys.modules) else 'NO_DBT', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                          env={"DUCKMESH_DB": str(db), "PATH": ""}, check=False)
    return "DBT_IMPORTED" in done.stderr


def measure(root: Path, repeat: int) -> tuple[list[Figure], dict]:
    duckmesh = str(Path(sys.executable).parent / "duckmesh")
    with tempfile.TemporaryDirectory(prefix="duckmesh-cli-") as tmp:
        db = Path(tmp) / "mesh.duckdb"
        duckdb.connect(str(db)).close()
        env = {"DUCKMESH_DB": str(db), "PATH": str(Path(sys.executable).parent)}
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "duckmesh --help": [duckmesh, "--help"],
            'duckmesh query "select 1"': [duckmesh, "--project-dir", str(root), "query",
                                          "select 1"],
        }
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):  # interleaved, so a busy moment hits every command
            for name, command in commands.items():
                samples[name].append(_wall(command, root, env))
        dbt_free = {name: not _imports_dbt(command[1:], db)
                    for name, command in commands.items() if name != "python -c pass"}
    baseline = median(samples["python -c pass"])
    figures = [Figure("cli-start", "python -c pass", baseline, samples=samples["python -c pass"],
                      note="the interpreter alone")]
    for name in commands:
        if name == "python -c pass":
            continue
        value = median(samples[name])
        figures.append(Figure(
            "cli-start", name, value, samples=samples[name], target=f"<= {TARGET_SECONDS} s",
            note=f"+{value - baseline:.2f} s over python; "
                 + ("dbt not imported" if dbt_free[name] else "IMPORTS dbt")))
    return figures, {"repeat": repeat, "samples": samples, "dbt_free": dbt_free}


def run(args: argparse.Namespace) -> int:
    mesh = find_mesh(args.project_dir)
    figures, details = measure(mesh.root, args.repeat)
    print_table(figures)
    print(f"-> {write_json(mesh.target_dir / 'bench', 'cli-start', figures, details)}")
    return 0
