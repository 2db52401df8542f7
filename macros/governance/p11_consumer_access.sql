{#- P11: consumer access. A public model that names its consumers
    (config.meta.consumers: domains or named consumers) may be read across domains only
    by the domains it names; the owning domain always reads its own products. Checked on
    dbt's graph before any model runs, for every model, test, snapshot and seed that
    depends on such a product, so a build needs no separate parse. This is the rule's
    one home: the governance gate runs it over the manifest before every publish
    (scripts/duckmesh/governance/gate.py), and publishing gives each consumer's
    database the products meta.consumers lists for it (publish/access.py may_read). -#}
{% macro governance_p11_consumer_access(ctx) %}
    {%- set found = [] -%}
    {%- set restricted = {} -%}
    {%- for node in ctx.public -%}
        {%- set meta = node.meta or node.config.meta or {} -%}
        {%- set consumers = meta.get('consumers') -%}
        {%- if consumers is string -%}{%- set consumers = [consumers] -%}{%- endif -%}
        {%- if consumers is not none -%}
            {%- do restricted.update({node.unique_id: consumers | map('string') | list}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set readers = graph.nodes.values() | selectattr('resource_type', 'in', ['model', 'test', 'snapshot', 'seed', 'unit_test']) | list if restricted else [] -%}
    {%- for node in readers -%}
        {%- set reader = node.group or node.package_name -%}
        {%- for parent in (node.depends_on or {}).get('nodes') or [] if parent in restricted -%}
            {%- set product = graph.nodes[parent] -%}
            {%- set owner = product.group or product.package_name -%}
            {%- if reader != owner and reader not in restricted[parent] -%}
                {%- set package, _, path = (product.patch_path or '').partition('://') -%}
                {%- if not path -%}{%- set package, path = product.package_name, product.original_file_path -%}{%- endif -%}
                {%- set yml = path if package == ctx.root else 'domains/' ~ package ~ '/' ~ path -%}
                {%- do found.append(duckmesh_platform.governance_violation('P11', reader, node.unique_id, none,
                    node.resource_type ~ ' ' ~ node.name ~ ' (domain ' ~ reader ~ ') refs ' ~ owner ~ '.' ~ product.name
                    ~ ' v' ~ product.version ~ ', whose meta.consumers is ' ~ restricted[parent]
                    ~ ': ask the ' ~ owner ~ ' team to add ' ~ reader ~ ' to meta.consumers in ' ~ yml ~ ', or remove the ref',
                    'add ' ~ reader ~ ' to meta.consumers of ' ~ owner ~ '.' ~ product.name ~ ' (' ~ yml ~ '), or remove the ref')) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found | unique(attribute='message') | list) }}
{% endmacro %}
