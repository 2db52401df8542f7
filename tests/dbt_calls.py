"""What each test costs in dbt: a pytest plugin for measuring, never loaded by default.

    PYTHONPATH=$PWD/scripts:$PWD/tests DBT_CALLS=calls.jsonl \
        .venv/bin/python -m pytest -p dbt_calls tests/test_publish.py
    .venv/bin/python tests/dbt_calls.py calls.jsonl [TEST-NAME-PART]

Per test, one JSON line: CPU seconds of the process and of the children it waited for,
and every dbt command run in the process with its CPU seconds and how dbt parsed
(``full``, ``partial``, ``skip``: nothing changed), the files dbt re-parsed for a changed
env_var() value, and the commands started in a fresh process (their CPU is in the
children's). The summary prints per file: CPU, dbt commands, full parses.
(docs/performance-history.md, "Test loop: fewer full dbt parses")
"""

from __future__ import annotations

import collections
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

OUT = os.environ.get("DBT_CALLS", "dbt_calls.jsonl")
_calls: list[list[Any]] = []


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _patch() -> None:
    """Wrap dbt's runner, its manifest loader and its partial parser (imported here, so
    that only a measuring run imports them this early), and Popen."""
    from dbt.cli.main import dbtRunner
    from dbt.parser.manifest import ManifestLoader
    from dbt.parser.partial import PartialParsing

    invoke, load, env_files = dbtRunner.invoke, ManifestLoader.load, \
        PartialParsing.build_env_vars_to_files
    popen = subprocess.Popen.__init__

    def timed_invoke(self: Any, args: list[str], **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return invoke(self, args, **kwargs)
        finally:
            command = next((a for a in args if not a.startswith("-")), "?")
            _calls.append(["dbt " + command, round(time.process_time() - started, 2)])

    def timed_load(self: Any) -> Any:
        started = time.process_time()
        try:
            return load(self)
        finally:
            kind = "full" if self.saved_manifest is None or not (
                self.skip_parsing or self.partially_parsing) else \
                "skip" if self.skip_parsing else "partial"
            _calls.append([f"  parse {kind}", round(time.process_time() - started, 2)])

    def changed_env_files(self: Any) -> Any:
        changed = sorted(name for name, value in self.saved_manifest.env_vars.items()
                         if os.getenv(name) is not None and os.getenv(name) != value)
        found = env_files(self)
        if changed:
            _calls.append([f"  env changed {','.join(changed)}: "
                           f"{len(found[0]) + len(found[1])} files", None])
        return found

    def noted_popen(self: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
        line = args if isinstance(args, str) else " ".join(map(str, args))
        if any(word in line for word in ("duckmesh", "dbt", "make", "sqlfluff")):
            _calls.append(["process " + line[:100], None])
        popen(self, args, *rest, **kwargs)

    dbtRunner.invoke = timed_invoke
    ManifestLoader.load = timed_load
    PartialParsing.build_env_vars_to_files = changed_env_files
    subprocess.Popen.__init__ = noted_popen  # type: ignore[method-assign]


def pytest_configure(config: pytest.Config) -> None:
    _patch()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _calls.clear()
    cpu, wall = _cpu(), time.perf_counter()
    yield
    with open(OUT, "a") as out:
        out.write(json.dumps({"test": item.nodeid, "cpu": round(_cpu() - cpu, 2),
                              "wall": round(time.perf_counter() - wall, 2),
                              "calls": list(_calls)}) + "\n")


def summary(path: str, part: str | None = None) -> None:
    rows = [json.loads(line) for line in open(path)]
    files: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0, 0, 0])
    for row in rows:
        total = files[row["test"].split("::")[0]]
        total[0] += row["cpu"]
        total[1] += sum(name.startswith("dbt ") for name, _ in row["calls"])
        total[2] += sum(name == "  parse full" for name, _ in row["calls"])
        total[3] += 1
    for name, (cpu, commands, full, tests) in sorted(files.items(), key=lambda f: -f[1][0]):
        print(f"{name:45} {cpu:7.1f} CPU s  {commands:4.0f} dbt commands  "
              f"{full:3.0f} full parses  {tests:4.0f} tests")
    print(f"{'total':45} {sum(f[0] for f in files.values()):7.1f} CPU s")
    for row in rows:
        if part and part in row["test"]:
            print(f"\n{row['cpu']:6.1f} CPU s  {row['test']}")
            for name, seconds in row["calls"]:
                print(f"  {name}" + (f"  {seconds} s" if seconds is not None else ""))


if __name__ == "__main__":
    summary(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
