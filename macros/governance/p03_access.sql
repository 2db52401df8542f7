{#- P03: every domain package sets restrict-access: true; every model of a domain
    belongs to that domain's group; models in private layer folders (staging,
    intermediate) are never public (a layer prefix on a public name is P04).
    restrict-access is project config that dbt keeps out of the graph, so it is read
    from each installed package's dbt_project.yml through the engine (read_text_files). -#}
{% macro governance_p03_access(ctx) %}
    {%- set found = [] -%}
    {%- set cfg = ctx.cfg -%}
    {%- set domain_packages = ctx.packages | reject('equalto', ctx.root) | list -%}
    {%- if domain_packages and execute -%}
        {%- set pattern = ctx.project_dir ~ '/' ~ cfg.packages_install_path ~ '/*/dbt_project.yml' -%}
        {%- set projects = {} -%}
        {%- for content in read_text_files([pattern]).values() -%}
            {%- set project = fromyaml(content) or {} -%}
            {%- do projects.update({project.get('name'): project}) -%}
        {%- endfor -%}
        {%- for package in domain_packages -%}
            {%- set project = projects.get(package) -%}
            {%- if project is none -%}
                {%- do found.append(governance_violation('P03', ctx.domains[package], 'package.' ~ package, none,
                    'cannot read the dbt_project.yml of domain package ' ~ package ~ ' under ' ~ cfg.packages_install_path ~ '/ to check restrict-access',
                    'run `dbt deps`, or set vars.duckmesh_governance.packages_install_path to your packages-install-path', 'warn')) -%}
            {%- elif project.get('restrict-access') is not true -%}
                {%- do found.append(governance_violation('P03', ctx.domains[package], 'package.' ~ package, none,
                    'domain package ' ~ package ~ ' does not set restrict-access: true, so its protected models can be ref\'d by any project that installs it',
                    'add `restrict-access: true` to the dbt_project.yml of ' ~ package)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for package, nodes in ctx.models | groupby('package_name') if package in ctx.groups -%}
        {%- set group = ctx.groups[package] -%}
        {%- for node in nodes | rejectattr('group', 'equalto', group.name) -%}
            {%- set label = governance_label(node) -%}
            {%- do found.append(governance_violation('P03', ctx.domains[package], node.unique_id, none,
                'model ' ~ label ~ ' of domain ' ~ ctx.domains[package] ~ ' belongs to group ' ~ (node.group or 'none') ~ ', not to its domain\'s group ' ~ group.name,
                'remove the group override on ' ~ label ~ ' (' ~ node.original_file_path ~ ') so it inherits `+group: ' ~ group.name ~ '` from the domain\'s dbt_project.yml')) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for node in ctx.public -%}
        {%- set layers = node['fqn'][1:-1] | select('in', cfg.private_layers) | list -%}
        {%- if layers -%}
            {%- set label = governance_label(node) -%}
            {%- do found.append(governance_violation('P03', ctx.domains[node.package_name], node.unique_id, none,
                'model ' ~ label ~ ' is in the private layer ' ~ layers[0] ~ '/ but is public',
                'keep ' ~ label ~ ' private (remove `access: public`) and publish a product in models/products/ that selects from it')) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
