{#- P04: data product addresses. A product lives in its domain's schema, is named in
    snake_case without a layer prefix, and is versioned: relation <product>_v<N> plus
    the latest alias view <product> (post-hook create_latest_alias). -#}
{% macro governance_p04_addresses(ctx) %}
    {%- set found = [] -%}
    {%- set snake = modules.re.compile('^[a-z][a-z0-9]*(_[a-z0-9]+)*$') -%}
    {%- for node in ctx.public -%}
        {%- set domain = ctx.domains[node.package_name] -%}
        {%- set label = governance_label(node) -%}
        {%- set yml = governance_yml(node) -%}
        {%- if node.schema != domain -%}
            {%- do found.append(governance_violation('P04', domain, node.unique_id, none,
                'product ' ~ label ~ ' lives in schema ' ~ node.schema ~ ', not in its domain\'s schema ' ~ domain,
                'set `+schema: ' ~ domain ~ '` for the domain\'s models and remove any schema override on ' ~ label)) -%}
        {%- endif -%}
        {%- if not snake.match(node.name) -%}
            {%- do found.append(governance_violation('P04', domain, node.unique_id, none,
                'product name ' ~ node.name ~ ' is not snake_case',
                'rename ' ~ node.name ~ ' to lowercase words joined by underscores (and ship the rename as a new product)')) -%}
        {%- endif -%}
        {%- set prefix = ctx.layer_prefix_re.match(node.name) -%}
        {%- if prefix -%}
            {%- do found.append(governance_violation('P04', domain, node.unique_id, none,
                'product ' ~ label ~ ' carries the layer prefix ' ~ prefix.group(1) ~ '; products are named for the business entity',
                'name the product without ' ~ prefix.group(1) ~ ' (e.g. ' ~ node.name[prefix.end():] ~ ')')) -%}
        {%- endif -%}
        {%- if node.version is none -%}
            {%- do found.append(governance_violation('P04', domain, node.unique_id, none,
                'product ' ~ node.name ~ ' is not versioned',
                'rename the file to ' ~ node.name ~ '_v1.sql and add `latest_version: 1` and `versions: [{v: 1}]` to ' ~ node.name ~ ' in ' ~ (yml or 'its yml'))) -%}
        {%- else -%}
            {%- set relation = node.name ~ '_v' ~ node.version -%}
            {%- if node.alias != relation -%}
                {%- do found.append(governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ label ~ ' is materialised as ' ~ node.schema ~ '.' ~ node.alias ~ ', not ' ~ node.schema ~ '.' ~ relation,
                    'remove the alias override on ' ~ label ~ ' so its relation is ' ~ relation)) -%}
            {%- endif -%}
            {%- set hooks = node.config.get('post-hook') or [] -%}
            {%- set has_alias = 'create_latest_alias' in (hooks | map(attribute='sql') | join(' ')) -%}
            {%- if not has_alias -%}
                {%- do found.append(governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ label ~ ' does not create the latest alias view ' ~ node.schema ~ '.' ~ node.name,
                    'add `+post-hook: "{{ create_latest_alias() }}"` to the products folder in the domain\'s dbt_project.yml')) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
