{#- P05: harmonised field types by column name, for every column of every public
    model. The rules are vars.duckmesh_governance.field_types (first match wins):
    `columns` is a glob on the column name, `data_type` the type it must have. -#}
{% macro governance_p05_field_types(ctx) %}
    {%- set found = [] -%}
    {%- set rules = [] -%}
    {%- for rule in ctx.cfg.field_types -%}
        {%- set pattern = '^' ~ (modules.re.escape(rule.columns | lower) | replace('\\*', '.*')) ~ '$' -%}
        {%- do rules.append({'glob': rule.columns, 're': modules.re.compile(pattern),
            'data_type': rule.data_type, 'normal': governance_normalise_type(rule.data_type)}) -%}
    {%- endfor -%}
    {%- set cache = {} -%}
    {%- for node in ctx.public -%}
        {%- set domain = ctx.domains[node.package_name] -%}
        {%- for column in node.columns.values() if column.data_type -%}
            {%- set name = column.name | lower -%}
            {%- for rule in rules if rule.re.match(name) -%}
                {%- if loop.first -%}
                    {%- if column.data_type not in cache -%}
                        {%- do cache.update({column.data_type: governance_normalise_type(column.data_type)}) -%}
                    {%- endif -%}
                    {%- if cache[column.data_type] != rule.normal -%}
                        {%- do found.append(governance_violation('P05', domain, node.unique_id, column.name,
                            'column ' ~ column.name ~ ' of ' ~ governance_label(node) ~ ' is ' ~ column.data_type ~ ', but columns named ' ~ rule.glob ~ ' are ' ~ rule.data_type ~ ' across the mesh',
                            'cast ' ~ column.name ~ ' to ' ~ rule.data_type ~ ' in the model and set `data_type: ' ~ rule.data_type ~ '` in ' ~ governance_yml(node) ~ ' (a breaking change: ship it as a new version)')) -%}
                    {%- endif -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
