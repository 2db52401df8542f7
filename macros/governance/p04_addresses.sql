{#- P04: data product addresses. A product lives in its domain's schema, is named in
    snake_case without a layer prefix, and is versioned: relation <product>_v<N> plus
    the latest alias view <product> (post-hook create_latest_alias). A model name is
    unique across the mesh's domains: when a domain builds alone it is dbt's root
    project, and dbt resolves every unqualified ref (and every generic test) of the
    upstream domains it installs to the root's model of that name first. -#}
{% macro governance_p04_addresses(ctx) %}
    {%- set found = [] -%}
    {%- set snake = modules.re.compile('^[a-z][a-z0-9]*(_[a-z0-9]+)*$') -%}
    {%- for node in ctx.public -%}
        {%- set domain = ctx.domains[node['package_name']] -%}
        {%- set name = node['name'] -%}
        {%- set version = node['version'] -%}
        {%- set prefix = ctx.layer_prefix_re.match(name) -%}
        {%- set hooks = node['config'].get('post-hook') or [] -%}
        {%- set problems = [] -%}
        {%- if node['schema'] != domain -%}{%- do problems.append('schema') -%}{%- endif -%}
        {%- if not snake.match(name) -%}{%- do problems.append('snake') -%}{%- endif -%}
        {%- if prefix -%}{%- do problems.append('prefix') -%}{%- endif -%}
        {%- if version is none -%}{%- do problems.append('version') -%}
        {%- else -%}
            {%- if node['alias'] != name ~ '_v' ~ version -%}{%- do problems.append('alias') -%}{%- endif -%}
            {%- if 'create_latest_alias' not in (hooks | map(attribute='sql') | join(' ')) -%}{%- do problems.append('latest') -%}{%- endif -%}
        {%- endif -%}
        {%- if problems -%}
            {%- set label = duckmesh_platform.governance_label(node) -%}
            {%- set yml = duckmesh_platform.governance_yml(node) -%}
            {%- set relation = name ~ '_v' ~ version -%}
            {%- if 'schema' in problems and node['config'].get('schema') == domain -%}
                {#- the config asks for the domain's schema: a naming macro turned it into another -#}
                {%- do found.append(duckmesh_platform.governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ label ~ ' lives in schema ' ~ node.schema ~ ', not in its domain\'s schema ' ~ domain ~ ': its config says `+schema: ' ~ domain ~ '`, so a generate_schema_name macro renamed it',
                    'make generate_schema_name in the macros of ' ~ node.package_name ~ ' (and of the project dbt runs from) return duckmesh_platform.domain_schema_name(custom_schema_name, node), or delete that override')) -%}
            {%- elif 'schema' in problems -%}
                {%- do found.append(duckmesh_platform.governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ label ~ ' lives in schema ' ~ node.schema ~ ', not in its domain\'s schema ' ~ domain,
                    'set `+schema: ' ~ domain ~ '` for the domain\'s models and remove any schema override on ' ~ label)) -%}
            {%- endif -%}
            {%- if 'snake' in problems -%}
                {%- do found.append(duckmesh_platform.governance_violation('P04', domain, node.unique_id, none,
                    'product name ' ~ name ~ ' is not snake_case',
                    'rename ' ~ name ~ ' to lowercase words joined by underscores (and ship the rename as a new product)')) -%}
            {%- endif -%}
            {%- if 'prefix' in problems -%}
                {%- do found.append(duckmesh_platform.governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ label ~ ' carries the layer prefix ' ~ prefix.group(1) ~ '; products are named for the business entity',
                    'name the product without ' ~ prefix.group(1) ~ ' (e.g. ' ~ name[prefix.end():] ~ ')')) -%}
            {%- endif -%}
            {%- if 'version' in problems -%}
                {%- do found.append(duckmesh_platform.governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ name ~ ' is not versioned',
                    'rename the file to ' ~ name ~ '_v1.sql and add `latest_version: 1` and `versions: [{v: 1}]` to ' ~ name ~ ' in ' ~ (yml or 'its yml'))) -%}
            {%- endif -%}
            {%- if 'alias' in problems and not node['config'].get('alias') -%}
                {#- no alias configured: a naming macro chose this one -#}
                {%- do found.append(duckmesh_platform.governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ label ~ ' is materialised as ' ~ node.schema ~ '.' ~ node.alias ~ ', not ' ~ node.schema ~ '.' ~ relation ~ ': no alias is configured, so a generate_alias_name macro renamed it',
                    'delete the generate_alias_name override in the macros of ' ~ node.package_name ~ ' (or of the project dbt runs from), so its relation is ' ~ relation)) -%}
            {%- elif 'alias' in problems -%}
                {%- do found.append(duckmesh_platform.governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ label ~ ' is materialised as ' ~ node.schema ~ '.' ~ node.alias ~ ', not ' ~ node.schema ~ '.' ~ relation,
                    'remove the alias override on ' ~ label ~ ' so its relation is ' ~ relation)) -%}
            {%- endif -%}
            {%- if 'latest' in problems -%}
                {%- do found.append(duckmesh_platform.governance_violation('P04', domain, node.unique_id, none,
                    'product ' ~ label ~ ' does not create the latest alias view ' ~ node.schema ~ '.' ~ name,
                    'add `+post-hook: "{{ duckmesh_platform.create_latest_alias() }}"` to the products folder in the domain\'s dbt_project.yml')) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {#- name clashes between a domain and the domains it installs (transitively) -#}
    {%- set names = {} -%}
    {%- set uses = {} -%}
    {%- for node in ctx.models -%}
        {%- do names.setdefault(node.package_name, {}).update({node.name: node.unique_id}) -%}
        {%- for parent in node.depends_on.nodes if parent.startswith('model.') -%}
            {%- set owner = parent.split('.')[1] -%}
            {%- if owner != node.package_name and owner in ctx.packages -%}
                {%- do uses.setdefault(node.package_name, []).append(owner) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for package in names | sort -%}
        {%- set closure = [] -%}
        {%- set queue = (uses.get(package) or []) | unique | list -%}
        {%- for upstream in queue if upstream not in closure -%}
            {%- do closure.append(upstream) -%}
            {%- do queue.extend((uses.get(upstream) or []) | unique | list) -%}
        {%- endfor -%}
        {%- for name, uid in names[package].items() | sort -%}
            {%- set holders = [] -%}
            {%- for upstream in closure | sort if name in names.get(upstream, {}) -%}
                {%- do holders.append(upstream) -%}
            {%- endfor -%}
            {%- if holders -%}
                {%- do found.append(duckmesh_platform.governance_violation('P04', ctx.domains[package], uid, none,
                    'model name ' ~ name ~ ' is also a model of ' ~ (holders | join(', ')) ~ ', which ' ~ package ~ ' installs: built alone, ' ~ package ~ ' is dbt\'s root project and the refs and tests of ' ~ (holders | join(', ')) ~ ' would resolve to its own ' ~ name,
                    'rename ' ~ name ~ ' in ' ~ package ~ ' to a name of its own (stg_<source>__<entity>, int_<domain>__<thing>, or a product named for its own business thing)')) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
