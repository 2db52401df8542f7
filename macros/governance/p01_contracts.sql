{#- P01: every public model enforces its contract; every column has a data_type. -#}
{% macro governance_p01_contracts(ctx) %}
    {%- set found = [] -%}
    {%- for node in ctx.public -%}
        {%- set columns = node['columns'] -%}
        {%- set enforced = (node['contract'] or {}).get('enforced') -%}
        {%- set untyped = columns.values() | rejectattr('data_type') | list -%}
        {%- if not enforced or not columns or untyped -%}
        {%- set domain = ctx.domains[node.package_name] -%}
        {%- set label = duckmesh_platform.governance_label(node) -%}
        {%- set yml = duckmesh_platform.governance_yml(node) -%}
        {%- if not enforced -%}
            {%- do found.append(duckmesh_platform.governance_violation('P01', domain, node.unique_id, none,
                'public model ' ~ label ~ ' does not enforce its contract',
                'set `contract: {enforced: true}` under `config:` of ' ~ label ~ ' in ' ~ yml
                ~ ' (or `+contract: {enforced: true}` on the products folder in the domain\'s dbt_project.yml)')) -%}
        {%- endif -%}
        {%- if not columns -%}
            {%- do found.append(duckmesh_platform.governance_violation('P01', domain, node.unique_id, none,
                'public model ' ~ label ~ ' declares no columns',
                'list every column of ' ~ label ~ ' with its data_type and description in ' ~ (yml or 'a yml file beside the model'))) -%}
        {%- endif -%}
        {%- for column in untyped -%}
            {%- do found.append(duckmesh_platform.governance_violation('P01', domain, node.unique_id, column.name,
                'column ' ~ column.name ~ ' of public model ' ~ label ~ ' has no data_type',
                'add `data_type: <DuckDB type>` to column ' ~ column.name ~ ' in ' ~ yml)) -%}
        {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
