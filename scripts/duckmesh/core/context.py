"""The BuildContext: what one `duckmesh build` knows, handed to every build step.

It lives in core (not in build/) because the steps it is handed to belong to the
capabilities (sources, publish, catalog, observability), which the build imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from duckmesh.core import builddb
from duckmesh.core.artifacts import Artifacts, save_build_copy
from duckmesh.core.project import Mesh, MeshError


@dataclass
class BuildContext:
    mesh: Mesh
    scale: float
    data_dir: Path  # the source data the build reads
    seed: int = 42
    changed_only: bool = False
    # set by the source checks: a cleaned copy of data_dir that dbt reads instead
    validated_data: Path | None = None
    # set once dbt has run
    success: bool = False
    # dbt wrote run results of its own (False: it failed before, e.g. on governance)
    results_written: bool = False
    build_seconds: float = 0.0
    # the whole policy check passed over this build's manifest (governance/gate.py):
    # nothing is published without it
    governed: bool = False
    # columns of each source relation (relation_name -> names), described once per build
    # by the first step after it that reads them (publish, catalog: catalog.store)
    source_columns: dict[str, list[str]] = field(default_factory=dict)
    # step name (and "dbt build") -> [wall seconds, CPU seconds of the process], in order
    step_times: dict[str, list[float]] = field(default_factory=dict)
    _artifacts: Artifacts | None = field(default=None, repr=False)
    _database: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)

    @property
    def dbt_env(self) -> dict[str, str]:
        """What dbt's profile and macros read with env_var() for this build."""
        return self.mesh.env(self.validated_data or self.data_dir)

    @property
    def artifacts(self) -> Artifacts:
        """The manifest and run results of this build's dbt run, read once; when dbt
        wrote none (``results_written`` False) those of the last build that did."""
        if self._artifacts is None:
            self._artifacts = Artifacts.load(self.mesh)
        return self._artifacts

    def dbt_ran(self) -> None:
        """Forget artifacts read before dbt wrote new ones, and keep the platform's own
        copy of the new ones (a later `dbt docs generate` cannot replace it)."""
        self._artifacts = None
        self.results_written = save_build_copy(self.mesh)

    def database(self) -> duckdb.DuckDBPyConnection:
        """One connection to the mesh database for the steps after the build (opened on
        first use with dbt-duckdb's configuration, closed by ``close``)."""
        if self._database is None:
            if not self.mesh.db_path.exists():
                raise MeshError(f"{self.mesh.db_path} not found: the build created no database")
            self._database = builddb.connect(self.mesh.db_path)
        return self._database

    def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None
