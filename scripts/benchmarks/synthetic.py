"""Synthetic meshes for scale benchmarks: N domains x M models with realistic refs.

`write_synthetic_mesh(dest, n_models, n_domains)` writes a complete, buildable mesh
project shaped like the real one: a root consumer project (name ``duckmesh``, the
real root's on-run-start hook, dispatch, vars and flags) that installs the real
platform package (macros/) and every domain as local packages. Each domain is a
self-contained package as in the real mesh: its own packages.yml (the platform and the
domains it reads), selectors.yml, on-run-start hook and address convention, a group
with an owner, ``restrict-access: true``, and three layers: ``stg_`` views over small
inline data (``range(100)``), ``int_`` tables joining and aggregating staging models,
and public, contracted, versioned products that also read other domains' products
through ``ref('<domain>', '<product>')``.
Cross-domain refs only point at lower-numbered domains, so the graph is acyclic.

Everything is deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
ROWS = 100  # rows of inline data per staging model

ENTITIES = [
    "accounts", "invoices", "payments", "shipments", "returns", "contracts", "devices",
    "sessions", "visits", "claims", "policies", "tickets", "bookings", "listings",
    "subscriptions", "refunds", "stores", "vendors", "parcels", "quotes",
]
CLASSIFICATIONS = ["internal", "public", "confidential"]


@dataclass(frozen=True)
class ProductRef:
    domain: str
    name: str


@dataclass
class DomainPlan:
    name: str
    index: int
    staging: list[str] = field(default_factory=list)
    intermediate: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)

    @property
    def model_count(self) -> int:
        return len(self.staging) + len(self.intermediate) + len(self.products)


@dataclass(frozen=True)
class SyntheticMesh:
    root: Path
    domains: list[DomainPlan]
    root_products: list[str]

    @property
    def model_count(self) -> int:
        return sum(d.model_count for d in self.domains) + len(self.root_products)


def plan_mesh(n_models: int, n_domains: int = 10) -> tuple[list[DomainPlan], list[str]]:
    """Split n_models over the domains (about 40% staging, 30% intermediate, 30% products)
    and one consumer product in the root project."""
    if n_models < 4:
        raise ValueError("a synthetic mesh needs at least 4 models")
    n_domains = max(1, min(n_domains, (n_models - 1) // 3))
    domain_models = n_models - 1  # one consumer product in the root project
    plans = []
    for index in range(n_domains):
        count = domain_models // n_domains + (1 if index < domain_models % n_domains else 0)
        n_products = max(1, round(count * 0.3))
        n_staging = max(1, round(count * 0.4))
        n_intermediate = max(0, count - n_products - n_staging)
        name = f"domain_{index + 1:02d}"
        plan = DomainPlan(name=name, index=index)
        plan.staging = [f"stg_{name}_system__{_entity(i)}" for i in range(n_staging)]
        # names unique across the mesh (policy P04): a domain built alone is dbt's root
        plan.intermediate = [f"int_{name}__{_entity(i)}_enriched" for i in range(n_intermediate)]
        plan.products = [f"{_entity(i)}_summary_{index + 1:02d}" for i in range(n_products)]
        plans.append(plan)
    return plans, ["mesh_overview"]


def _entity(i: int) -> str:
    base = ENTITIES[i % len(ENTITIES)]
    return base if i < len(ENTITIES) else f"{base}_{i // len(ENTITIES) + 1:02d}"


def write_synthetic_mesh(dest: Path, n_models: int, n_domains: int = 10) -> Path:
    """Write a synthetic mesh with n_models models in total at ``dest``; return dest."""
    domains, root_products = plan_mesh(n_models, n_domains)
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    _write_root(dest, domains, root_products)
    for plan in domains:
        _write_domain(dest / "domains" / plan.name, plan, domains)
    return dest


def describe(dest: Path) -> SyntheticMesh:
    """Re-plan the mesh written at dest from its marker file."""
    marker = yaml.safe_load((dest / "synthetic.yml").read_text())
    domains, root_products = plan_mesh(marker["models"], marker["domains"])
    return SyntheticMesh(dest, domains, root_products)


# --- root project -------------------------------------------------------------------

def _write_root(dest: Path, domains: list[DomainPlan], root_products: list[str]) -> None:
    real = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())
    project = {key: value for key, value in real.items() if key not in {"models", "seeds"}}
    project["models"] = {
        real["name"]: {
            "+group": "analytics",
            "+access": "private",
            "+schema": "analytics",
            "products": _product_folder_config(),
        }
    }
    _dump(dest / "dbt_project.yml", project,
          "# Synthetic DuckMesh root project (duckmesh bench synthetic): the consumer.")
    _dump(dest / "packages.yml", {"packages": [{"local": "macros"}] + [
        {"local": f"domains/{d.name}"} for d in domains]})
    _dump(dest / "synthetic.yml", {"models": sum(d.model_count for d in domains) + 1,
                                   "domains": len(domains)})
    shutil.copytree(REPO_ROOT / "macros", dest / "macros")
    shutil.copytree(REPO_ROOT / "profiles", dest / "profiles")
    for optional in ("seeds", "data-tests"):
        if (REPO_ROOT / optional).is_dir():
            shutil.copytree(REPO_ROOT / optional, dest / optional)
    models = dest / "models"
    _dump(models / "_groups.yml", {"groups": [_group(
        "analytics", "Central Analytics Team", "analytics@duckmesh.example",
        "Consumer-aligned views built from the domains' products.")]})
    sources = [ProductRef(d.name, d.products[-1]) for d in domains]
    products = models / "products"
    for name in root_products:
        (products / f"{name}_v1.sql").parent.mkdir(parents=True, exist_ok=True)
        (products / f"{name}_v1.sql").write_text(_consumer_sql(sources))
    _dump(products / "_products.yml", {"models": [
        _consumer_yml(name) for name in root_products]})


def _consumer_sql(sources: list[ProductRef]) -> str:
    ctes = []
    for ref in sources:
        ctes.append(
            f"{ref.domain} as (\n\n"
            f"    select\n"
            f"        '{ref.domain}' as domain_name,\n"
            f"        count(*) as record_count,\n"
            f"        sum(amount) as total_amount\n\n"
            f"    from {{{{ ref('{ref.domain}', '{ref.name}') }}}}\n\n)")
    unions = "\n\n    union all\n\n".join(
        f"    select * from {ref.domain}" for ref in sources)
    return (
        "with\n\n" + ",\n\n".join(ctes) + ",\n\n"
        f"unioned as (\n\n{unions}\n\n),\n\n"
        "published as (\n\n"
        "    select\n"
        "        cast(domain_name as varchar) as domain_name,\n"
        "        cast(record_count as bigint) as record_count,\n"
        "        cast(total_amount as decimal(18, 2)) as total_amount\n\n"
        "    from unioned\n\n)\n\n"
        "select * from published\n")


def _consumer_yml(name: str) -> dict:
    return {
        "name": name,
        "description": "Records and amounts of every domain's main product, one row per domain.",
        "latest_version": 1,
        "config": {"meta": _meta("internal")},
        "constraints": [{"type": "primary_key", "columns": ["domain_name"]}],
        "columns": [
            _column("domain_name", "varchar", "Domain that publishes the product.", key=True),
            _column("record_count", "bigint", "Rows in the domain's product."),
            _column("total_amount", "decimal(18,2)", "Sum of the product's amounts, in EUR."),
        ],
        "versions": [{"v": 1}],
    }


# --- one domain -------------------------------------------------------------------

def _upstream_of(plan: DomainPlan, domains: list[DomainPlan]) -> list[str]:
    """The domains whose products ``plan``'s products ref, in the order first ref'd."""
    upstream = [d for d in domains if d.index < plan.index]
    names: list[str] = []
    for k in range(len(plan.products)):
        for ref in _cross_refs(plan, k, upstream):
            if ref.domain not in names:
                names.append(ref.domain)
    return names


def _write_domain(folder: Path, plan: DomainPlan, domains: list[DomainPlan]) -> None:
    reads = _upstream_of(plan, domains)
    project = {
        "name": plan.name,
        "version": "1.0.0",
        "config-version": 2,
        "profile": "duckmesh",
        "restrict-access": True,
        "model-paths": ["models"],
        "seed-paths": ["seeds"],
        "test-paths": ["data-tests"],
        "on-run-start": [f"{{{{ duckmesh_platform.on_run_start('{plan.name}') }}}}"],
        "dispatch": [{"macro_namespace": "dbt",
                      "search_order": [plan.name, "duckmesh_platform", "dbt"]}],
        "flags": {"require_generic_test_arguments_property": True},
        "vars": {"duckmesh_published": "{{ env_var('DUCKMESH_PUBLISHED', '../../published') }}"},
        "models": {plan.name: {
            "+group": plan.name,
            "+access": "private",
            "+schema": plan.name,
            "staging": {"+materialized": "view"},
            "intermediate": {"+materialized": "table"},
            "products": _product_folder_config(),
        }, **{name: {"+database": "published"} for name in reads}},
    }
    _dump(folder / "dbt_project.yml", project,
          f"# Synthetic domain {plan.name}. Installed as a package: only products are public.")
    _dump(folder / "packages.yml", {"packages": [
        {"local": "{{ env_var('DUCKMESH_PLATFORM', '../../macros') }}"},
        *({"local": f"{{{{ env_var('DUCKMESH_DOMAINS', '..') }}}}/{name}"} for name in reads)]})
    _dump(folder / "selectors.yml", {"selectors": [{
        "name": plan.name, "default": True,
        "definition": {"method": "package", "value": plan.name}}]})
    _write(folder / "macros" / "generate_schema_name.sql", (
        "{% macro generate_schema_name(custom_schema_name, node) -%}\n"
        "    {{ return(duckmesh_platform.domain_schema_name(custom_schema_name, node)) }}\n"
        "{%- endmacro %}\n"))
    (folder / "README.md").write_text(
        f"# {plan.name}\n\nSynthetic domain for scale benchmarks "
        f"({plan.model_count} models).\n")
    models = folder / "models"
    _dump(models / "_groups.yml", {"groups": [_group(
        plan.name, f"Team {plan.index + 1:02d}", f"team-{plan.index + 1:02d}@duckmesh.example",
        f"Synthetic domain number {plan.index + 1}.")]})

    staging = models / "staging"
    for i, name in enumerate(plan.staging):
        _write(staging / f"{name}.sql", _staging_sql(plan, i))
    _dump(staging / f"_stg_{plan.name}.yml", {"models": [
        {"name": name, "description": f"Records of {_entity(i)}, renamed and cast.",
         "columns": [_column("record_id", "varchar", "Record key.", tests=True)]}
        for i, name in enumerate(plan.staging)]})

    intermediate = models / "intermediate"
    for j, name in enumerate(plan.intermediate):
        _write(intermediate / f"{name}.sql", _intermediate_sql(plan, j))
    if plan.intermediate:
        _dump(intermediate / f"_int_{plan.name}.yml", {"models": [
            {"name": name, "description": "Records joined to a second source and enriched.",
             "columns": [_column("record_id", "varchar", "Record key.", tests=True)]}
            for name in plan.intermediate]})

    products = models / "products"
    upstream = [d for d in domains if d.index < plan.index]
    for k, name in enumerate(plan.products):
        cross = _cross_refs(plan, k, upstream)
        _write(products / f"{name}_v1.sql", _product_sql(plan, k, cross))
    _dump(products / "_products.yml", {"models": [
        _product_yml(plan, k, name) for k, name in enumerate(plan.products)]})


def _cross_refs(plan: DomainPlan, k: int, upstream: list[DomainPlan]) -> list[ProductRef]:
    """Up to two products of lower-numbered domains (deterministic)."""
    refs = []
    for step in (1, 3):
        if len(upstream) >= step and (k + step) % 2 == 1:
            domain = upstream[-step]
            refs.append(ProductRef(domain.name, domain.products[k % len(domain.products)]))
    return refs


def _staging_sql(plan: DomainPlan, i: int) -> str:
    prefix = f"{plan.index + 1:02d}{i:03d}"
    return f"""with

source as (

    select range as source_row from range({ROWS})

),

renamed as (

    select
        -- ids
        'R' || lpad(cast(source_row as varchar), 6, '0') as record_id,
        'K{prefix}-' || cast(source_row % 10 as varchar) as category,

        -- numerics
        cast((source_row * {7 + i}) % 1000 / 10 as decimal(18, 2)) as amount,
        cast(source_row % {3 + i % 5} + 1 as bigint) as quantity,

        -- timestamps
        timestamptz '2024-01-01 00:00:00+00' + to_hours(source_row * {1 + i % 7}) as created_at,

        -- flags
        source_row % {2 + i % 3} = 0 as is_active

    from source

)

select * from renamed
"""


def _intermediate_sql(plan: DomainPlan, j: int) -> str:
    left = plan.staging[j % len(plan.staging)]
    right = plan.staging[(j + 1) % len(plan.staging)]
    return f"""with

records as (

    select * from {{{{ ref('{left}') }}}}

),

related as (

    select * from {{{{ ref('{right}') }}}}

),

related_totals as (

    select
        category,
        sum(amount) as category_amount,
        count(*) as category_records

    from related
    group by category

),

enriched as (

    select
        records.record_id,
        records.category,
        records.amount,
        records.quantity,
        records.created_at,
        records.is_active,
        coalesce(related_totals.category_amount, 0) as category_amount,
        coalesce(related_totals.category_records, 0) as category_records

    from records
    left join related_totals
        on records.category = related_totals.category

)

select * from enriched
"""


def _product_sql(plan: DomainPlan, k: int, cross: list[ProductRef]) -> str:
    if plan.intermediate:
        base = plan.intermediate[k % len(plan.intermediate)]
        base_cte = f"records as (\n\n    select * from {{{{ ref('{base}') }}}}\n\n)"
    else:
        base = plan.staging[k % len(plan.staging)]
        base_cte = (f"records as (\n\n    select\n        *,\n"
                    f"        amount as category_amount\n\n"
                    f"    from {{{{ ref('{base}') }}}}\n\n)")
    ctes = [base_cte]
    joins = []
    upstream_terms = []
    for n, ref in enumerate(cross):
        alias = f"upstream_{n + 1}"
        ctes.append(f"{alias} as (\n\n    select\n        record_id,\n        amount\n\n"
                    f"    from {{{{ ref('{ref.domain}', '{ref.name}') }}}}\n\n)")
        joins.append(f"    left join {alias}\n        on records.record_id = {alias}.record_id")
        upstream_terms.append(f"coalesce({alias}.amount, 0)")
    upstream = " + ".join(upstream_terms) if upstream_terms else "0"
    join_sql = ("\n" + "\n".join(joins)) if joins else ""
    return (
        "with\n\n" + ",\n\n".join(ctes) + ",\n\n"
        "published as (\n\n"
        "    select\n"
        "        records.record_id,\n"
        "        records.category,\n"
        "        records.quantity,\n"
        "        records.created_at,\n"
        "        records.is_active,\n"
        "        cast(records.amount as decimal(18, 2)) as amount,\n"
        "        cast(records.category_amount as decimal(18, 2)) as category_amount,\n"
        f"        cast({upstream} as decimal(18, 2)) as upstream_amount,\n"
        "        cast(timezone('UTC', records.created_at) as date) as created_date\n\n"
        f"    from records{join_sql}\n\n)\n\n"
        "select * from published\n")


def _product_yml(plan: DomainPlan, k: int, name: str) -> dict:
    return {
        "name": name,
        "description": f"One row per record of {name.removesuffix('_summary')}, "
                       f"with amounts and upstream amounts.",
        "latest_version": 1,
        "config": {"meta": _meta(CLASSIFICATIONS[(plan.index + k) % len(CLASSIFICATIONS)])},
        "constraints": [{"type": "primary_key", "columns": ["record_id"]}],
        "columns": [
            _column("record_id", "varchar", "Record key.", key=True),
            _column("category", "varchar", "Category of the record."),
            _column("quantity", "bigint", "Units on the record."),
            _column("created_at", "timestamp with time zone", "When the record was created."),
            _column("is_active", "boolean", "True when the record is active."),
            _column("amount", "decimal(18,2)", "Amount of the record, in EUR."),
            _column("category_amount", "decimal(18,2)",
                    "Amount of the related records in the same category, in EUR."),
            _column("upstream_amount", "decimal(18,2)",
                    "Amounts of the same record in upstream domains' products, in EUR."),
            _column("created_date", "date", "UTC calendar date of created_at."),
        ],
        "versions": [{"v": 1}],
    }


# --- shared pieces ------------------------------------------------------------------

def _product_folder_config() -> dict:
    return {
        "+materialized": "table",
        "+access": "public",
        "+contract": {"enforced": True},
        "+post-hook": "{{ duckmesh_platform.create_latest_alias() }}",
    }


def _group(name: str, owner: str, email: str, description: str) -> dict:
    return {"name": name, "owner": {"name": owner, "email": email}, "description": description}


def _meta(classification: str) -> dict:
    return {"classification": classification, "lifecycle": "active",
            "slo": {"freshness_hours": 24, "min_rows": 1}}


def _column(name: str, data_type: str, description: str, key: bool = False,
            tests: bool = False) -> dict:
    column: dict = {"name": name, "description": description, "data_type": data_type}
    if key:
        column["constraints"] = [{"type": "not_null"}]
    if key or tests:
        column["data_tests"] = ["unique", "not_null"]
    return column


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _dump(path: Path, data: dict, header: str = "") -> None:
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)
    _write(path, (header + "\n" if header else "") + body)
