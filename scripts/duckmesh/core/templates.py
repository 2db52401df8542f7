"""Templates are files: Jinja2 environments over a capability's ``templates/`` folder.
HTML templates (``*.html``, ``*.html.j2``) are autoescaped; SQL, YAML and Markdown are
not (their values are checked names or are quoted by the caller)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2


@functools.cache
def environment(folder: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"),
                                            default_for_string=False),
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.StrictUndefined)


def render(folder: Path, template: str, **values: Any) -> str:
    """Render ``folder/template`` with ``values``."""
    return environment(folder).get_template(template).render(**values)
