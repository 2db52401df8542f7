{#- P03: every domain package sets restrict-access: true; every model of a domain
    belongs to that domain's group; models in private layer folders (staging,
    intermediate) are never public (a layer prefix on a public name is P04); a domain
    refs another domain's products only when its own packages.yml lists that domain,
    so it still builds alone and as an installed package.
    restrict-access is project config that dbt keeps out of the graph, so it is read
    from each installed package's dbt_project.yml through the engine (read_text_files). -#}
{% macro governance_p03_access(ctx) %}
    {%- set found = [] -%}
    {%- set cfg = ctx.cfg -%}
    {%- set domain_packages = ctx.packages | reject('equalto', ctx.root) | list -%}
    {%- if domain_packages and execute -%}
        {%- set pattern = ctx.project_dir ~ '/' ~ cfg.packages_install_path ~ '/*/dbt_project.yml' -%}
        {%- set projects = {} -%}
        {%- for content in duckmesh_platform.read_text_files([pattern]).values() -%}
            {%- set project = fromyaml(content) or {} -%}
            {%- do projects.update({project.get('name'): project}) -%}
        {%- endfor -%}
        {%- for package in domain_packages -%}
            {%- set project = projects.get(package) -%}
            {%- if project is none -%}
                {%- do found.append(duckmesh_platform.governance_violation('P03', ctx.domains[package], 'package.' ~ package, none,
                    'cannot read the dbt_project.yml of domain package ' ~ package ~ ' under ' ~ cfg.packages_install_path ~ '/ to check restrict-access',
                    'run `dbt deps`, or set vars.duckmesh_governance.packages_install_path to your packages-install-path', 'warn')) -%}
            {%- elif project.get('restrict-access') is not true -%}
                {%- do found.append(duckmesh_platform.governance_violation('P03', ctx.domains[package], 'package.' ~ package, none,
                    'domain package ' ~ package ~ ' does not set restrict-access: true, so its protected models can be ref\'d by any project that installs it',
                    'add `restrict-access: true` to the dbt_project.yml of ' ~ package)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if execute -%}
        {%- do found.extend(duckmesh_platform.governance_p03_declared_dependencies(ctx)) -%}
    {%- endif -%}
    {%- for package, nodes in ctx.models | groupby('package_name') if package in ctx.groups -%}
        {%- set group = ctx.groups[package] -%}
        {%- for node in nodes | rejectattr('group', 'equalto', group.name) -%}
            {%- set label = duckmesh_platform.governance_label(node) -%}
            {%- do found.append(duckmesh_platform.governance_violation('P03', ctx.domains[package], node.unique_id, none,
                'model ' ~ label ~ ' of domain ' ~ ctx.domains[package] ~ ' belongs to group ' ~ (node.group or 'none') ~ ', not to its domain\'s group ' ~ group.name,
                'remove the group override on ' ~ label ~ ' (' ~ node.original_file_path ~ ') so it inherits `+group: ' ~ group.name ~ '` from the domain\'s dbt_project.yml')) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for node in ctx.public -%}
        {%- set layers = node['fqn'][1:-1] | select('in', cfg.private_layers) | list -%}
        {%- if layers -%}
            {%- set label = duckmesh_platform.governance_label(node) -%}
            {%- do found.append(duckmesh_platform.governance_violation('P03', ctx.domains[node.package_name], node.unique_id, none,
                'model ' ~ label ~ ' is in the private layer ' ~ layers[0] ~ '/ but is public',
                'keep ' ~ label ~ ' private (remove `access: public`) and publish a product in models/products/ that selects from it')) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{#- The packages a project's packages.yml lists, by name: the last folder of a local
    path or git subdirectory (a domain's folder is named after it), the repository or
    hub name otherwise, and any explicit `name:`. -#}
{% macro governance_declared_packages(content) %}
    {%- set names = [] -%}
    {%- for entry in (fromyaml(content) or {}).get('packages') or [] if entry is mapping -%}
        {%- set where = entry.get('subdirectory') or entry.get('local') or entry.get('git') or entry.get('package') or entry.get('tarball') or '' -%}
        {%- set last = (where | string).rstrip('/').split('/')[-1] -%}
        {%- do names.append(modules.re.sub('\\.git$', '', last)) -%}
        {%- if entry.get('name') -%}{%- do names.append(entry.get('name')) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(names) }}
{% endmacro %}


{#- Cross-domain refs need a declared dependency: every package a domain's models and
    tests ref must be listed in that domain's packages.yml (the root project's own
    file is the packages.yml beside its dbt_project.yml). -#}
{% macro governance_p03_declared_dependencies(ctx) %}
    {%- set found = [] -%}
    {%- set files = {} -%}
    {%- set install = ctx.project_dir ~ '/' ~ ctx.cfg.packages_install_path -%}
    {%- for path, content in duckmesh_platform.read_text_files([install ~ '/*/packages.yml', ctx.project_dir ~ '/packages.yml']).items() -%}
        {%- set parts = path.split('/') -%}
        {#- a relative project dir ('.') comes back without its './' -#}
        {%- set owner = parts[-2] if path.startswith(install) or ('/' ~ ctx.cfg.packages_install_path ~ '/') in ('/' ~ path) else ctx.root -%}
        {%- do files.update({owner: duckmesh_platform.governance_declared_packages(content)}) -%}
    {%- endfor -%}
    {%- set uses = {} -%}
    {%- for node in graph.nodes.values() if node.package_name in ctx.packages and node.resource_type in ('model', 'test', 'snapshot') -%}
        {%- for parent in node.depends_on.nodes if parent.split('.')[0] == 'model' -%}
            {%- set owner = parent.split('.')[1] -%}
            {%- if owner != node.package_name -%}
                {%- do uses.setdefault((node.package_name, owner), []).append(node.name if node.resource_type != 'test' else 'a test of ' ~ (node.attached_node or node.name).split('.')[2]) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for key, users in uses.items() | sort -%}
        {%- set package, upstream = key -%}
        {%- if upstream not in (files.get(package) or []) -%}
            {%- set where = 'packages.yml' if package == ctx.root else 'domains/' ~ package ~ '/packages.yml' -%}
            {%- do found.append(duckmesh_platform.governance_violation('P03', ctx.domains[package], 'package.' ~ package, none,
                'domain ' ~ ctx.domains[package] ~ ' refs products of domain ' ~ ctx.domains.get(upstream, upstream) ~ ' (in ' ~ (users | unique | sort | join(', ')) ~ ') but its packages.yml does not list ' ~ upstream ~ ', so it cannot build alone or be installed elsewhere',
                'add `- local: "{{ env_var(\'DUCKMESH_DOMAINS\', \'..\') }}/' ~ upstream ~ '"` to ' ~ where ~ ', and `' ~ upstream ~ ': {+database: published}` under models: in its dbt_project.yml (docs/domains.md)')) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}
