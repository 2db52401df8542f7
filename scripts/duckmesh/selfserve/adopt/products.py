"""Which marts become products (``--products a,b=new_name``), and each product's files:
models/products/<name>_v1.sql (the mart's SQL, with the P05/P10 casts applied on top of
it when its columns need them) and _<name>.yml (the mart's own docs, column tests and
model-level tests, plus a contract typed from the built relation)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duckmesh.core import yamledit
from duckmesh.core.names import InvalidInput
from duckmesh.selfserve.adopt.scratch import BuiltMart
from duckmesh.selfserve.contracts import TODO_MARKER, ProductSpec, product_yaml
from duckmesh.selfserve.product import wrap_sql
from duckmesh.selfserve.rules import check_product_name


@dataclass(frozen=True)
class Choice:
    mart: str  # the model's name in the project
    product: str  # the product's name in the mesh


def parse_products(text: str | None) -> list[Choice] | None:
    """``--products orders,customers=shop_customers``: None when not given."""
    if text is None:
        return None
    choices = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        mart, _, product = item.partition("=")
        choices.append(Choice(mart.strip(), (product or mart).strip()))
    if not choices:
        raise InvalidInput("--products is empty: name the marts that become products, "
                           "e.g. --products orders,customers")
    return choices


def choose(marts: list[BuiltMart], asked: list[Choice] | None, marts_dir: str, *,
           update: bool = False) -> tuple[list[Choice], list[str]]:
    """The products, and the notes on the marts that stay private. ``marts``: every
    model of the project; without --products, the product-named ones of the marts
    folder; with --update, only what --products names (never a model not asked for)."""
    by_name = {m.name: m for m in marts}
    notes: list[str] = []
    if asked is None and update:
        return [], notes
    if asked is None:
        chosen = []
        for mart in (m for m in marts if m.in_marts):
            if mart.time_spine:
                continue
            try:
                check_product_name(mart.name)
                chosen.append(Choice(mart.name, mart.name))
            except InvalidInput:
                notes.append(f"{mart.name} stays private: its name is not a product name "
                             f"(to publish it: adopt again with --products and "
                             f"{mart.name}=<name>)")
    else:
        chosen = asked
        for choice in asked:
            if choice.mart not in by_name:
                in_folder = sorted(m.name for m in marts if m.in_marts)
                raise InvalidInput(
                    f"--products {choice.mart}: no such model in the project (its models in "
                    f"models/{marts_dir.strip('/') or '.'}/: {', '.join(in_folder) or 'none'})")
            if by_name[choice.mart].time_spine:
                raise InvalidInput(
                    f"--products {choice.mart}: it is MetricFlow's time spine, a technical "
                    "model the semantic layer needs; it stays private")
            check_product_name(choice.product)
        names = [c.product for c in chosen]
        if len(set(names)) != len(names):
            raise InvalidInput(f"--products names a product twice ({', '.join(names)})")
    published = {c.mart for c in chosen}
    for mart in marts:
        if mart.name in published or not mart.in_marts:
            continue
        if mart.time_spine:
            notes.append(f"{mart.name} stays private: it is MetricFlow's time spine "
                         "(a technical model)")
        elif asked is not None:
            notes.append(f"{mart.name} stays private (not in --products)")
    return chosen, notes


def existing_products(mesh_root: Path, skip: str) -> dict[str, str]:
    """Product name -> domain, for every product the mesh's other domains declare."""
    found: dict[str, str] = {}
    for path in sorted(mesh_root.glob("domains/*/models/products/*.yml")):
        domain = path.parts[-4]
        if domain == skip:
            continue
        for entry in (yamledit.load(path) or {}).get("models") or []:
            if isinstance(entry, dict) and entry.get("versions"):
                found.setdefault(str(entry["name"]), domain)
    return found


def collisions(chosen: list[Choice], existing: dict[str, str], domain: str,
               source: Path) -> list[str]:
    """A clear warning for each product whose name another domain already publishes."""
    clashing = [c for c in chosen if c.product in existing]
    if not clashing:
        return []
    renamed = ",".join(f"{c.mart}={domain}_{c.product}" if c in clashing else c.mart
                       for c in chosen)
    return [f"product name {c.product} is also {existing[c.product]}.{c.product}: two "
            f"products of the same name are legal (consumers write "
            f"ref('{domain}', '{c.product}')), but a one-argument ref('{c.product}') in a "
            "project that installs both is ambiguous. To rename, adopt again with "
            f"--force --products {renamed}" for c in clashing]


def rename_refs(folder: Path, renames: dict[str, str]) -> None:
    """ref('old') -> ref('new') in the domain's SQL and yml (for --products old=new)."""
    if not renames:
        return
    pattern = re.compile(r"""ref\(\s*(['"])(\w+)\1\s*\)""")
    for path in sorted(folder.rglob("*")):
        if path.suffix not in (".sql", ".yml", ".yaml") or not path.is_file():
            continue
        text = path.read_text()
        new = pattern.sub(lambda m: f"ref('{renames[m.group(2)]}')"
                          if m.group(2) in renames else m.group(0), text)
        if new != text:
            path.write_text(new)


def pop_model_entries(models_dir: Path, names: set[str]) -> dict[str, dict[str, Any]]:
    """Remove the entries of ``names`` from the project's yml files (their semantic
    models, metrics and other entries stay); return them."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(models_dir.rglob("*.yml")) + sorted(models_dir.rglob("*.yaml")):
        data = yamledit.load(path)
        if not isinstance(data, dict) or not isinstance(data.get("models"), list):
            continue
        keep = []
        for entry in data["models"]:
            if isinstance(entry, dict) and entry.get("name") in names:
                found[str(entry["name"])] = entry
            else:
                keep.append(entry)
        if len(keep) == len(data["models"]):
            continue
        if keep:
            data["models"] = keep
        else:
            del data["models"]
        if set(data) - {"version"}:
            yamledit.dump(data, path)
        else:
            path.unlink()
    return found


def tests_of(entry: dict[str, Any]) -> list[Any]:
    return list(entry.get("data_tests") or entry.get("tests") or [])


def candidate_spec(mart: BuiltMart, product: str, entry: dict[str, Any] | None) -> ProductSpec:
    """The product's contract: the built columns (P05/P10 casts applied where the data
    allows), the project's own docs, column tests and model-level tests."""
    entry = entry or {}
    documented = {str(c.get("name")): c for c in entry.get("columns") or [] if isinstance(c, dict)}
    extra_tests: dict[str, list[Any]] = {}
    primary_key = None
    for column in mart.columns:
        doc = documented.get(column.name, {})
        column.description = str(doc.get("description") or "").strip()
        tests = tests_of(doc)
        if tests:
            extra_tests[column.name] = tests
        if primary_key is None and "unique" in tests and "not_null" in tests:
            primary_key = column.name
    return ProductSpec(
        name=product,
        description=str(entry.get("description") or "").strip() or TODO_MARKER,
        columns=mart.columns,
        primary_key=primary_key,
        lifecycle="experimental",
        extra_tests=extra_tests,
        model_tests=tests_of(entry),
    )


# what a scan of SQL steps over whole: strings, comments and Jinja
SKIPPED = re.compile(r"""'(?:[^']|'')*'|"[^"]*"|--[^\n]*|/\*.*?\*/|\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}""",
                     re.DOTALL)
WORD = re.compile(r"[a-z_][a-z0-9_]*|[()]", re.IGNORECASE)


def split_with(sql: str) -> tuple[str, str] | None:
    """(everything up to the last CTE, the final select) of a query that starts with its
    own ``with``; None for any other query."""
    depth, seen_with = 0, False
    position = 0
    while position < len(sql):
        skipped = SKIPPED.match(sql, position)
        if skipped:
            position = skipped.end()
            continue
        token = WORD.match(sql, position)
        if token is None:
            position += 1
            continue
        word = token.group(0).lower()
        if word == "(":
            depth += 1
        elif word == ")":
            depth -= 1
        elif depth == 0 and not seen_with:
            if word != "with":
                return None
            seen_with = True
        elif depth == 0 and word == "select":
            return sql[:position].rstrip(), sql[position:].strip()
        position = token.end()
    return None


def cast_sql(sql: str, columns: list[Any]) -> str:
    """The mart's query with the P05/P10 casts on top. A query with its own ``with``
    keeps its CTEs at the top level and its final select becomes one more CTE (Spark
    rejects a WITH nested in a CTE); any other query is wrapped whole."""
    split = split_with(sql)
    if split is None:
        return wrap_sql(sql.strip(), columns)
    ctes, final = split
    wrapped = wrap_sql(final, columns)
    head, _, rest = wrapped.partition("with")
    return f"{ctes.rstrip().rstrip(',')},{rest}" if not head.strip() else wrapped


def write_product(folder: Path, mart: BuiltMart, spec: ProductSpec) -> None:
    """models/products/<name>_v1.sql and _<name>.yml; the mart's SQL file goes."""
    products_dir = folder / "models" / "products"
    products_dir.mkdir(parents=True, exist_ok=True)
    sql_file = folder / mart.path
    sql = sql_file.read_text()
    if any(c.cast_applied for c in spec.columns):
        sql = cast_sql(sql, spec.columns)
    (products_dir / f"{spec.name}_v1.sql").write_text(sql)
    sql_file.unlink()
    (products_dir / f"_{spec.name}.yml").write_text(product_yaml(spec))
