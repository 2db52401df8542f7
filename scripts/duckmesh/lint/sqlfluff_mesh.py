"""sqlfluff plugin: the dbt templater, able to lint the models of every domain.

sqlfluff's dbt templater finds a file's node by ``project_dir / original_file_path``,
which only holds for the root project: a domain installed as a local package has
paths relative to its own folder (sqlfluff issue #6942). This subclass adds that
lookup, so one lint run from the root project compiles and checks every domain.
Select it with ``templater = dbt_mesh`` in .sqlfluff.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlfluff.core.errors import SQLFluffSkipFile
from sqlfluff.core.plugin import hookimpl
from sqlfluff_templater_dbt.templater import DbtTemplater


class MeshDbtTemplater(DbtTemplater):
    name = "dbt_mesh"

    def _find_node(self, fname, config=None, dbt_dir=None):
        dbt_dir = dbt_dir or os.getcwd()
        try:
            return super()._find_node(fname, config, dbt_dir)
        except SQLFluffSkipFile:
            wanted = Path(fname).resolve()
            root_package = self.dbt_config.project_name
            for node in self.dbt_manifest.nodes.values():
                base = Path(dbt_dir)
                if node.package_name != root_package:
                    base = base / "dbt_packages" / node.package_name
                if (base / node.original_file_path).resolve() == wanted:
                    return node
            raise


@hookimpl
def get_templaters():
    return [MeshDbtTemplater]
