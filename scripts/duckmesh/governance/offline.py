"""The governance macros run over a saved dbt manifest, without starting dbt.

`duckmesh governance check` runs the policies through `dbt run-operation`, which first
loads dbt's parse state and writes a new manifest even when nothing changed: about
27 CPU s at 10,000 models. When the project's files are unchanged since a manifest
was written (``core/fingerprint.py`` says so), this module renders the same macros, as that
manifest holds them (``macro_sql``), in dbt's own Jinja environment (dbt_common's),
over the manifest's graph. One implementation of each policy, two hosts.

The context is the part of dbt's that the policies use: ``graph``, ``var`` (the root
project's vars), ``env_var``, ``project_name``, ``invocation_args_dict``, ``target.type``,
``adapter.dispatch``, ``modules``, ``exceptions``, ``fromjson``/``tojson``/``fromyaml``,
``return`` and ``log``. ``read_text_files`` (the engine reads files for dbt's Jinja,
which has none) reads them directly. Anything else a macro asks of dbt (a query, a
compiler error) stops this run with ``Unsupported``, and the caller asks dbt instead,
so dbt stays the reference for every answer that is not the plain report.
"""

from __future__ import annotations

import datetime
import glob
import itertools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from duckmesh.core import yamlio
from duckmesh.core.output import console
from duckmesh.core.project import Mesh

PACKAGE = "duckmesh_platform"
_UNSET = object()


class Unsupported(Exception):
    """The macros asked for something only dbt provides; run the check in dbt."""


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class _Macro:
    """One macro, callable as dbt's MacroGenerator is: ``return(x)`` gives x."""

    def __init__(self, runtime: _Runtime, name: str, sql: str) -> None:
        self.runtime, self.name, self.sql = runtime, name, sql
        self._function: Callable[..., Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._function is None:
            template = self.runtime.environment.from_string(self.sql)
            module = template.make_module(vars=self.runtime.context)
            self._function = getattr(module, f"dbt_macro__{self.name}")
        try:
            return self._function(*args, **kwargs)
        except _Return as returned:
            return returned.value


class _Adapter:
    def __init__(self, runtime: _Runtime, adapter_type: str,
                 search_orders: dict[str, list[str]]) -> None:
        self.runtime, self.type, self.search_orders = runtime, adapter_type, search_orders

    def dispatch(self, macro_name: str, macro_namespace: str | None = None) -> Any:
        packages = self.search_orders.get(macro_namespace or "", [macro_namespace or PACKAGE])
        for package in packages:
            macros = self.runtime.packages.get(package, {})
            for prefix in (self.type, "default"):
                found = macros.get(f"{prefix}__{macro_name}")
                if found is not None:
                    return found
        raise Unsupported(f"adapter.dispatch('{macro_name}', '{macro_namespace}')")


def _unsupported(what: str) -> Callable[..., Any]:
    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise Unsupported(what)
    return refuse


def _tojson(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    try:
        return json.dumps(value, sort_keys=sort_keys)
    except ValueError:
        return default


def _fromjson(string: str, default: Any = None) -> Any:
    try:
        return json.loads(string)
    except ValueError:
        return default


def _fromyaml(value: str, default: Any = None) -> Any:
    try:
        return yamlio.loads(value)
    except Exception:  # noqa: BLE001 (dbt's fromyaml returns the default on any error)
        return default


def _env_var(name: str, default: Any = _UNSET) -> Any:
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is _UNSET:
        raise Unsupported(f"env_var('{name}') without a default is not set")
    return default


def _log(message: Any, info: bool = False) -> str:
    if info:
        console().step(str(message), err=True)
    return ""


def _raise(value: Any) -> None:
    raise _Return(value)


class _Files:
    """The macro read_text_files: {path: content} of the files the paths (globs) match;
    a relative path is taken from the project folder, where dbt runs. ``fromjson``
    notes which file a parsed text came from (``parsed``: real path -> value), so the
    caller can reuse what the macros parsed (the published manifest: 1.5 s at 10,000
    models) instead of parsing the file again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._texts: dict[int, tuple[str, str]] = {}  # id(content) -> (content, real path)
        self.parsed: dict[str, Any] = {}

    def read(self, paths: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for pattern in paths or []:
            relative = not os.path.isabs(pattern)
            for path in sorted(glob.glob(str(self.root / pattern) if relative else pattern)):
                if os.path.isfile(path):
                    key = os.path.relpath(path, self.root) if relative else path
                    found[key] = Path(path).read_text()
                    self._texts[id(found[key])] = (found[key], os.path.realpath(path))
        return found

    def fromjson(self, string: str, default: Any = None) -> Any:
        value = _fromjson(string, default)
        text = self._texts.get(id(string))
        if text is not None and text[0] is string:
            self.parsed[text[1]] = value
        return value


def _root_project(mesh: Mesh) -> dict:
    return yamlio.loads((mesh.root / "dbt_project.yml").read_text()) or {}


def root_vars(project: dict) -> dict[str, Any]:
    """The root project's vars, rendered as dbt renders dbt_project.yml (env_var)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.globals["env_var"] = _env_var

    def render(value: Any) -> Any:
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return environment.from_string(value).render()
        if isinstance(value, dict):
            return {key: render(item) for key, item in value.items()}
        if isinstance(value, list):
            return [render(item) for item in value]
        return value

    return {key: render(value) for key, value in (project.get("vars") or {}).items()}


def _search_orders(project: dict) -> dict[str, list[str]]:
    """The root project's dispatch search order per macro namespace."""
    return {str(entry.get("macro_namespace")): list(entry.get("search_order") or [])
            for entry in project.get("dispatch") or [] if isinstance(entry, dict)}


class _Runtime:
    def __init__(self, mesh: Mesh, manifest: dict, project_dir: Path | None = None,
                 env: dict[str, str] | None = None, adapter_type: str | None = None
                 ) -> None:
        from dbt_common.clients.jinja import get_environment  # noqa: PLC0415

        self.environment = get_environment()
        self.packages: dict[str, dict[str, Any]] = {}
        for macro in manifest["macros"].values():
            self.packages.setdefault(macro["package_name"], {})[macro["name"]] = _Macro(
                self, macro["name"], macro["macro_sql"])
        if PACKAGE not in self.packages:
            raise Unsupported(f"the manifest has no {PACKAGE} macros")
        platform = self.packages[PACKAGE]
        folder = project_dir or mesh.root  # where dbt would run: files are read from it
        self.files = _Files(folder)
        platform["read_text_files"] = self.files.read
        metadata = manifest.get("metadata") or {}
        adapter_type = adapter_type or str(metadata.get("adapter_type") or "duckdb")
        project = _root_project(mesh)
        variables = root_vars(project)

        def var(name: str, default: Any = _UNSET) -> Any:
            if name in variables:
                return variables[name]
            if default is _UNSET:
                raise Unsupported(f"var('{name}') has no value in the root dbt_project.yml")
            return default

        self.context: dict[str, Any] = {
            **platform,
            PACKAGE: platform,
            "graph": {key: manifest.get(key) or {} for key in (
                "nodes", "sources", "exposures", "metrics", "groups", "semantic_models",
                "saved_queries")},
            "var": var, "project_name": metadata.get("project_name"),
            "invocation_args_dict": {"project_dir": str(folder)},
            "target": {"type": adapter_type}, "execute": True,
            "adapter": _Adapter(self, adapter_type, _search_orders(project)),
            "modules": {"datetime": datetime, "re": re, "itertools": itertools},
            "exceptions": {"raise_compiler_error": _unsupported("a compiler error"),
                           "warn": _unsupported("a warning")},
            "run_query": _unsupported("a query"), "statement": _unsupported("a statement"),
            "return": _raise, "log": _log, "tojson": _tojson, "fromjson": self.files.fromjson,
            "fromyaml": _fromyaml, "zip": zip, "set": set,
            "dbt": self.packages.get("dbt", {}),
            "env_var": (lambda name, default=_UNSET: (env or {}).get(name)
                        or _env_var(name, default)),
        }


def _call(mesh: Mesh, manifest: dict, run: Callable[[dict[str, Any]], Any],
          project_dir: Path | None = None, **runtime_options: Any) -> tuple[Any, _Runtime]:
    """``run(platform macros)`` in a runtime over ``manifest``; any failure but
    Unsupported becomes Unsupported (dbt gives its message)."""
    try:
        runtime = _Runtime(mesh, manifest, project_dir, **runtime_options)
        return run(runtime.context[PACKAGE]), runtime
    except (Unsupported, _Return):
        raise
    except Exception as error:  # noqa: BLE001 (any other failure: dbt gives its message)
        raise Unsupported(f"{type(error).__name__}: {error}") from error


def render(mesh: Mesh, manifest: dict, macro: str, *args: Any, adapter_type: str,
           env: dict[str, str] | None = None) -> str:
    """What the platform macro ``macro(*args)`` renders for ``adapter_type`` (with
    ``env`` over the environment), as dbt would render it in a model."""
    rendered, _ = _call(mesh, manifest, lambda platform: platform[macro](*args),
                        adapter_type=adapter_type, env=env)
    return " ".join(str(rendered).split())


def config(mesh: Mesh, manifest: dict) -> dict[str, Any]:
    """The mesh's governance settings: the macro governance_config (the root's
    vars.duckmesh_governance over governance_defaults, their one home)."""
    cfg, _ = _call(mesh, manifest, lambda platform: platform["governance_config"]())
    return dict(json.loads(json.dumps(cfg)))


def settle(mesh: Mesh, manifest: dict, raw: list[dict[str, Any]]
           ) -> tuple[list[dict[str, Any]], int]:
    """``raw`` findings ({policy, level, domain, node, column, message, fix[, binding]})
    with the mesh's severities and active exemptions applied as the macros apply them
    to their own (governance_config, governance_p00_exemptions, governance_apply):
    (the violations kept, with their severity; how many were exempted)."""
    def run(platform: dict[str, Any]) -> Any:
        cfg = platform["governance_config"]()
        ctx = {"cfg": cfg, "today": datetime.date.today().isoformat()}
        active = platform["governance_p00_exemptions"](ctx)["active"]
        return platform["governance_apply"](cfg, active, [dict(v) for v in raw])

    applied, _ = _call(mesh, manifest, run)
    result = json.loads(json.dumps(applied))
    return list(result["violations"]), int(result["exempted"])


def governance_check(mesh: Mesh, manifest: dict, partial: bool = False,
                     parsed: dict[str, Any] | None = None,
                     project_dir: Path | None = None) -> dict:
    """What the macro governance_check(partial) returns, as JSON would carry it; raises
    Unsupported when only dbt can answer. ``parsed``, when given, receives the JSON
    files the macros read and parsed (real path -> value). ``project_dir``: the project
    dbt ran from (a domain built alone), whose files the macros read; the vars are the
    mesh root's all the same (governance/gate.py)."""
    result, runtime = _call(mesh, manifest,
                            lambda platform: platform["governance_check"](partial), project_dir)
    if parsed is not None:
        parsed.update(runtime.files.parsed)
    if not isinstance(result, dict):
        raise Unsupported("governance_check returned no report")
    return json.loads(json.dumps(result))
