{#- P08: a consumer may not ref a model version past its deprecation_date (error);
    a ref to a deprecated version still in its grace period is a warning. Findings
    are reported once per consumer domain and version, naming every consuming model. -#}
{% macro governance_p08_deprecations(ctx) %}
    {%- set found = [] -%}
    {%- set deprecated = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('deprecation_date') | map(attribute='unique_id') | list -%}
    {%- set uses = {} -%}
    {%- for node in ctx.models if deprecated -%}
        {%- for parent in node['depends_on']['nodes'] | select('in', deprecated) -%}
            {%- do uses.setdefault((ctx.domains[node.package_name], parent), []).append(duckmesh_platform.governance_label(node)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for key, consumers in uses.items() | sort -%}
        {%- set consumer, parent = key -%}
        {%- set target = graph.nodes[parent] -%}
        {%- set owner = ctx.domains.get(target.package_name, target.package_name) -%}
        {%- set label = owner ~ '.' ~ duckmesh_platform.governance_label(target) -%}
        {%- set date = target.deprecation_date[:10] -%}
        {%- set latest = target.name ~ (' v' ~ target.latest_version if target.latest_version is not none else '') -%}
        {%- set fix = 'move ' ~ (consumers | sort | join(', ')) ~ ' to ' ~ owner ~ '.' ~ latest ~ ': ref(\'' ~ target.package_name ~ '\', \'' ~ target.name ~ '\')' -%}
        {%- if date < ctx.today -%}
            {%- do found.append(duckmesh_platform.governance_violation('P08', consumer, parent, none,
                'domain ' ~ consumer ~ ' refs ' ~ label ~ ', past its deprecation date ' ~ date ~ ' (in ' ~ (consumers | sort | join(', ')) ~ ')', fix)) -%}
        {%- else -%}
            {%- do found.append(duckmesh_platform.governance_violation('P08', consumer, parent, none,
                'domain ' ~ consumer ~ ' refs ' ~ label ~ ', deprecated and removed after ' ~ date ~ ' (in ' ~ (consumers | sort | join(', ')) ~ ')', fix, 'warn')) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
