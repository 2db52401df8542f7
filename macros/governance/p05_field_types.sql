{#- P05: harmonised field types by column name, for every column of every public
    model. The rules are vars.duckmesh_governance.field_types (first match wins):
    `columns` is a glob on the column name, `data_type` the type it must have. -#}
{% macro governance_p05_field_types(ctx) %}
    {%- set found = [] -%}
    {%- set rules = [] -%}
    {%- for rule in ctx.cfg.field_types -%}
        {%- set pattern = '^' ~ (modules.re.escape(rule.columns | lower) | replace('\\*', '.*')) ~ '$' -%}
        {%- do rules.append({'glob': rule.columns, 're': modules.re.compile(pattern),
            'data_type': rule.data_type, 'normal': duckmesh_platform.governance_normalise_type(rule.data_type, ctx.type_aliases)}) -%}
    {%- endfor -%}
    {#- verdicts are cached per (name, type): column names repeat across products -#}
    {%- set verdicts = {} -%}
    {%- set published = namespace(nodes=none) -%}
    {%- for node in ctx.public -%}
        {%- for column in node['columns'].values() -%}
            {%- set key = column['name'] ~ ' ' ~ column['data_type'] -%}
            {%- if key not in verdicts -%}
                {%- set verdict = namespace(rule=none) -%}
                {%- if column['data_type'] -%}
                    {%- set normal = duckmesh_platform.governance_type_of(ctx, column['data_type']).normal -%}
                    {%- for rule in rules if rule.re.match(column['name'] | lower) -%}
                        {%- if loop.first and normal != rule.normal -%}{%- set verdict.rule = rule -%}{%- endif -%}
                    {%- endfor -%}
                {%- endif -%}
                {%- do verdicts.update({key: verdict.rule}) -%}
            {%- endif -%}
            {%- set rule = verdicts[key] -%}
            {%- if rule is not none -%}
                {#- a version never published has no consumers yet: it changes in place -#}
                {%- if published.nodes is none -%}
                    {%- set published.nodes = duckmesh_platform.governance_published_manifest(ctx).get('nodes') or {} -%}
                {%- endif -%}
                {%- set change = '(a breaking change: ship it as a new version)' if node.unique_id in published.nodes
                    else '(never published, so not a breaking change: change it in place)' -%}
                {%- do found.append(duckmesh_platform.governance_violation('P05', ctx.domains[node.package_name], node.unique_id, column.name,
                    'column ' ~ column.name ~ ' of ' ~ duckmesh_platform.governance_label(node) ~ ' is ' ~ column.data_type ~ ', but columns named ' ~ rule.glob ~ ' are ' ~ rule.data_type ~ ' across the mesh',
                    'cast ' ~ column.name ~ ' to ' ~ rule.data_type ~ ' in the model and set `data_type: ' ~ rule.data_type ~ '` in ' ~ duckmesh_platform.governance_yml(node) ~ ' ' ~ change)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
