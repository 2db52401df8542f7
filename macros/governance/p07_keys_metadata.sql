{#- P07: every public product has a primary key (a primary_key constraint, or a
    column with unique and not_null tests/constraints) and product metadata in
    `meta`: slo.freshness_hours, slo.min_rows, classification, lifecycle. -#}
{% macro governance_p07_keys_metadata(ctx) %}
    {%- set found = [] -%}
    {%- set cfg = ctx.cfg -%}
    {%- for node in ctx.public -%}
        {%- set key = namespace(found=(node['constraints'] or []) | selectattr('type', 'equalto', 'primary_key') | list | length > 0) -%}
        {%- if not key.found -%}
            {%- set node_tests = duckmesh_platform.governance_node_tests(ctx, node.unique_id) -%}
            {%- for column in node.columns.values() if not key.found -%}
                {%- set name = column.name | lower -%}
                {%- set kinds = (column.constraints or []) | map(attribute='type') | list -%}
                {%- if 'primary_key' in kinds
                    or (('unique' in kinds or ('unique:' ~ name) in node_tests)
                        and ('not_null' in kinds or ('not_null:' ~ name) in node_tests)) -%}
                    {%- set key.found = true -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
        {%- set meta = node['config']['meta'] or node['meta'] or {} -%}
        {%- set slo = meta.get('slo') if meta.get('slo') is mapping else {} -%}
        {%- set hours = slo.get('freshness_hours') -%}
        {%- set rows = slo.get('min_rows') -%}
        {%- set bad_hours = hours is not number or hours is boolean or hours <= 0 -%}
        {%- set bad_rows = rows is not integer or rows is boolean or rows < 0 -%}
        {%- if not key.found or bad_hours or bad_rows or meta.get('classification') not in cfg.classifications
            or meta.get('lifecycle') not in cfg.lifecycles -%}
        {%- set domain = ctx.domains[node.package_name] -%}
        {%- set label = duckmesh_platform.governance_label(node) -%}
        {%- set yml = duckmesh_platform.governance_yml(node) -%}
        {%- if not key.found -%}
            {%- do found.append(duckmesh_platform.governance_violation('P07', domain, node.unique_id, none,
                'product ' ~ label ~ ' has no primary key',
                'add `constraints: [{type: primary_key, columns: [<key>]}]` to ' ~ node.name ~ ' in ' ~ (yml or 'its yml') ~ ', or unique and not_null data_tests on its key column')) -%}
        {%- endif -%}
        {%- if bad_hours -%}
            {%- do found.append(duckmesh_platform.governance_violation('P07', domain, node.unique_id, none,
                'product ' ~ label ~ ' has no SLO freshness (meta.slo.freshness_hours, a positive number; got ' ~ (hours if hours is not none else 'none') ~ ')',
                'add `meta: {slo: {freshness_hours: <hours>}}` under `config:` of ' ~ node.name ~ ' in ' ~ (yml or 'its yml'))) -%}
        {%- endif -%}
        {%- if bad_rows -%}
            {%- do found.append(duckmesh_platform.governance_violation('P07', domain, node.unique_id, none,
                'product ' ~ label ~ ' has no SLO row minimum (meta.slo.min_rows, a whole number; got ' ~ (rows if rows is not none else 'none') ~ ')',
                'add `meta: {slo: {min_rows: <rows>}}` under `config:` of ' ~ node.name ~ ' in ' ~ (yml or 'its yml'))) -%}
        {%- endif -%}
        {%- for field, allowed in [('classification', cfg.classifications), ('lifecycle', cfg.lifecycles)] -%}
            {%- if meta.get(field) not in allowed -%}
                {%- do found.append(duckmesh_platform.governance_violation('P07', domain, node.unique_id, none,
                    'product ' ~ label ~ ' has no valid meta.' ~ field ~ ' (got ' ~ (meta.get(field) if meta.get(field) is not none else 'none') ~ '; one of ' ~ (allowed | join(', ')) ~ ')',
                    'add `meta: {' ~ field ~ ': <' ~ (allowed | join('|')) ~ '>}` under `config:` of ' ~ node.name ~ ' in ' ~ (yml or 'its yml'))) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
