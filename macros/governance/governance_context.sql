{#- Shared state for the policies, built once per check from dbt's graph and the
    root project's vars.duckmesh_governance (merged over duckmesh_platform.governance_defaults()).
    The defaults live here only: the root dbt_project.yml sets what differs, and the
    platform's Python reads the merged settings through governance_config() (run over
    the manifest by scripts/duckmesh/governance/offline.py). -#}
{% macro governance_defaults() %}
    {{ return({
        'severity': {
            'P00': 'error', 'P01': 'error', 'P02': 'error', 'P03': 'error', 'P04': 'error',
            'P05': 'error', 'P06': 'error', 'P07': 'error', 'P08': 'error', 'P09': 'error',
            'P10': 'error', 'P11': 'error', 'P12': 'error', 'P13': 'error'
        },
        'exemptions': [],
        'field_types': [
            {'columns': '*_id', 'data_type': 'varchar'},
            {'columns': '*_at', 'data_type': 'timestamp with time zone'},
            {'columns': '*_date', 'data_type': 'date'},
            {'columns': 'is_*', 'data_type': 'boolean'},
            {'columns': 'has_*', 'data_type': 'boolean'},
            {'columns': '*_amount', 'data_type': 'decimal(18,2)'}
        ],
        'classifications': ['public', 'internal', 'confidential', 'restricted'],
        'lifecycles': ['experimental', 'active', 'deprecated', 'retired'],
        'layer_prefixes': ['stg_', 'int_'],
        'private_layers': ['staging', 'intermediate'],
        'masking_macros': ['pseudonymise', 'mask_pii'],
        'portability_engines': ['spark', 'snowflake', 'bigquery'],
        'published_manifest': var('duckmesh_published', 'published') ~ '/manifest.json',
        'packages_install_path': 'dbt_packages',
        'ignore_packages': []
    }) }}
{% endmacro %}


{#- partial: the build runs from one domain (the project dbt runs from is a domain,
    not the mesh root), so published products of domains it does not install are
    out of its scope (P09). -#}
{#- The mesh's settings: vars.duckmesh_governance over the defaults, severities merged
    per policy. -#}
{% macro governance_config() %}
    {%- set defaults = duckmesh_platform.governance_defaults() -%}
    {%- set given = var('duckmesh_governance', {}) or {} -%}
    {%- set cfg = {} -%}
    {%- do cfg.update(defaults) -%}
    {%- do cfg.update(given) -%}
    {%- set severity = {} -%}
    {%- do severity.update(defaults.severity) -%}
    {%- do severity.update(given.get('severity') or {}) -%}
    {%- do cfg.update({'severity': severity, 'exemptions': given.get('exemptions') or []}) -%}
    {{ return(cfg) }}
{% endmacro %}


{% macro governance_context(partial=false) %}
    {%- set cfg = duckmesh_platform.governance_config() -%}

    {#- a domain's group: the one named after its package, else its first -#}
    {%- set groups = {} -%}
    {%- for group in graph.groups.values() | sort(attribute='unique_id') -%}
        {%- if group.package_name not in groups or group.name == group.package_name -%}
            {%- do groups.update({group.package_name: group}) -%}
        {%- endif -%}
    {%- endfor -%}

    {#- filters run at Python speed: the hot paths below avoid per-node Jinja loops -#}
    {%- set models = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | rejectattr('package_name', 'in', cfg.ignore_packages) | list -%}
    {%- set public = models | selectattr('access', 'equalto', 'public') | list -%}
    {#- Domain or library: a package is a domain when it defines a group (its owning
        team) or a public model; any other package (macros and generic tests only, or
        only non-public models and no group, such as dbt_utils) is a library, which
        the policies leave alone. The platform package has no models at all. -#}
    {%- set public_packages = public | map(attribute='package_name') | unique | list -%}
    {%- set packages = [] -%}
    {%- for package in models | map(attribute='package_name') | unique -%}
        {%- if package in groups or package in public_packages or package == project_name -%}
            {%- do packages.append(package) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set models = models | selectattr('package_name', 'in', packages) | list -%}
    {%- set domains = {} -%}
    {%- for package in packages -%}
        {%- do domains.update({package: groups[package].name if package in groups else package}) -%}
    {%- endfor -%}

    {%- set escaped = [] -%}
    {%- for prefix in cfg.layer_prefixes -%}{%- do escaped.append(modules.re.escape(prefix)) -%}{%- endfor -%}

    {{ return({
        'cfg': cfg,
        'layer_prefix_re': modules.re.compile('^(' ~ (escaped | join('|') or '(?!)') ~ ')'),
        'root': project_name,
        'project_dir': invocation_args_dict.get('project_dir') or '.',
        'today': modules.datetime.date.today().isoformat(),
        'groups': groups,
        'models': models,
        'public': public,
        'packages': packages,
        'partial': partial,
        'domains': domains,
        'tests': namespace(by_node=none),
        'type_aliases': duckmesh_platform.mesh_type_aliases(),
        'types': {}
    }) }}
{% endmacro %}


{#- One finding. level is 'error' or 'warn'; the policy's configured severity can
    only lower it. -#}
{% macro governance_violation(policy, domain, node, column, message, fix, level='error') %}
    {{ return({
        'policy': policy, 'level': level, 'domain': domain, 'node': node,
        'column': column, 'message': message, 'fix': fix
    }) }}
{% endmacro %}


{#- "orders v2" for a versioned model, the model name otherwise. -#}
{% macro governance_label(node) %}
    {{ return(node.name ~ (' v' ~ node.version if node.version is not none else '')) }}
{% endmacro %}


{#- The generic data tests on a node as '<test>:<column>' ('unique:order_id'); the
    index over the graph is built once per check, on first use (P07, P10). -#}
{% macro governance_node_tests(ctx, unique_id) %}
    {%- set tests = ctx.tests -%}
    {%- if tests.by_node is none -%}
        {%- set tests.by_node = {} -%}
        {%- for test in graph.nodes.values() | selectattr('resource_type', 'equalto', 'test') | selectattr('attached_node') | selectattr('test_metadata') -%}
            {#- unique_key (macros/products/unique_key.sql) is unique and not_null in one test -#}
            {%- set names = ['unique', 'not_null'] if test.test_metadata.name == 'unique_key' else [test.test_metadata.name] -%}
            {%- for name in names -%}
                {%- do tests.by_node.setdefault(test.attached_node, []).append(
                    name ~ ':' ~ (test.column_name or '') | lower) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(tests.by_node.get(unique_id) or []) }}
{% endmacro %}


{#- The yml file that documents a node, relative to its project; for a model no yml
    documents yet, the file to create and the command that writes it. -#}
{% macro governance_yml(node) %}
    {%- if node.patch_path or node.resource_type != 'model' -%}
        {{ return((node.patch_path or node.original_file_path or '').split('://')[-1]) }}
    {%- endif -%}
    {%- set sql = node.original_file_path or '' -%}
    {%- set from_root = sql if node.package_name == project_name else 'domains/' ~ node.package_name ~ '/' ~ sql -%}
    {{ return(sql.rsplit('/', 1)[0] ~ '/_' ~ node.name ~ '.yml, a file to create (no yml documents '
        ~ node.name ~ ' yet; `duckmesh new-product ' ~ node.package_name ~ ' ' ~ node.name ~ ' --sql '
        ~ from_root ~ '` writes it with a typed contract and turns the SQL into ' ~ node.name ~ '_v1.sql)') }}
{% endmacro %}


{#- A DuckDB type spelled one way: its canonical DuckDB spelling when the mesh's one
    type table (mesh_type_table) knows it under any name (text/string -> varchar,
    timestamptz/timestamp_tz -> timestamp with time zone, money -> decimal(18,2)),
    else mesh_type_spelling's lower-case form. aliases: mesh_type_aliases(), when the
    caller has it already. -#}
{% macro governance_normalise_type(data_type, aliases=none) %}
    {%- set logical = duckmesh_platform.mesh_logical_type(data_type, aliases) -%}
    {%- set entry = duckmesh_platform.mesh_type_table().get(logical) -%}
    {{ return(entry.duckdb if entry else logical) }}
{% endmacro %}


{#- A contract data_type as {'logical': mesh_logical_type, 'normal':
    governance_normalise_type}, computed once per spelling in a check (a mesh repeats a
    few types over many columns). -#}
{% macro governance_type_of(ctx, data_type) %}
    {%- if data_type not in ctx.types -%}
        {%- set logical = duckmesh_platform.mesh_logical_type(data_type, ctx.type_aliases) -%}
        {%- set entry = duckmesh_platform.mesh_type_table().get(logical) -%}
        {%- do ctx.types.update({data_type: {'logical': logical, 'normal': entry.duckdb if entry else logical}}) -%}
    {%- endif -%}
    {{ return(ctx.types[data_type]) }}
{% endmacro %}
