"""A reader of the build database stops the next build before dbt starts, with the
holder named; doctor names it too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BuiltMesh, clone_built, duckmesh

pytestmark = pytest.mark.integration


def test_a_reader_of_the_build_database_is_named_before_the_build_starts(
        built_mesh: BuiltMesh, tmp_path: Path) -> None:
    root = clone_built(built_mesh.root, tmp_path / "mesh")
    db = root / "mesh.duckdb"
    reader = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time\n"
         f"con = duckdb.connect({str(db)!r}, read_only=True)\n"
         "print('open', flush=True)\ntime.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
        result = duckmesh(root, "build", "--scale", "0.01", check=False)
        assert result.returncode == 1
        assert (f"duckmesh build: error: {db} is open in PID {reader.pid} ({sys.executable} -c "
                ) in result.stderr
        assert ("so the build cannot write it: close that connection (kill "
                f"{reader.pid}) and build again. Readers belong on the published copy, "
                "published/mesh.duckdb") in result.stderr
        assert "Traceback" not in result.stderr and "[1/4]" not in result.stdout
        doctor = duckmesh(root, "doctor", check=False)
        assert doctor.returncode == 1
        assert f"FAIL  database: {db} is open in PID {reader.pid}" in doctor.stdout
    finally:
        reader.kill()
        reader.wait()


@pytest.mark.unit
def test_a_second_publisher_waits_for_the_lock_with_a_message(tmp_path: Path) -> None:
    """published/.publish.lock: the second holder waits, says for whom, then gets it."""
    import os
    import stat
    import threading
    import time

    from duckmesh.core.locks import waiting_lock

    lock, said = tmp_path / ".publish.lock", []

    def second() -> None:
        with waiting_lock(lock, "the publish", said.append):
            said.append("second holds it")

    with waiting_lock(lock, "the publish", said.append):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        said.append("first lets go")
    thread.join()
    holder = f"PID {os.getpid()} ("
    assert said[0].startswith(f"      waiting for the publish of {holder}")
    assert said[0].endswith(") to finish (.publish.lock is locked)")
    assert said[1] == "first lets go"
    assert said[2].startswith("      waited 0.") and f"s for the publish of {holder}" in said[2]
    assert said[3] == "second holds it"
    assert stat.S_IMODE(lock.stat().st_mode) == 0o640 and lock.read_text() == ""
