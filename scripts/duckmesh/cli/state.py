"""What the root command parsed, handed to the command that runs (click's context object)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import click

from duckmesh.core.project import Mesh, Settings, find_mesh


@dataclass
class CliState:
    """What the root group parsed, for the command that runs."""

    project_dir: str | None = None
    command: str | None = None
    env: Mapping[str, str] | None = None  # the environment to read settings from
    _mesh: Mesh | None = field(default=None, repr=False)

    def mesh(self) -> Mesh:
        if self._mesh is None:
            self._mesh = find_mesh(self.project_dir, Settings.from_env(self.env))
        return self._mesh


pass_state = click.make_pass_decorator(CliState, ensure=True)
