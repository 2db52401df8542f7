{#- The one on-run-start hook of every DuckMesh project, the mesh root and each domain:
        on-run-start: ["{{ duckmesh_platform.on_run_start('<this project name>') }}"]
    dbt also runs the hooks of installed packages, so it acts only in the project dbt
    runs from (project == project_name): in the mesh build that is the root, in a
    domain-alone build the domain. There it
      1. attaches the last publish, read-only, when this build reads upstream
         domains' products from it (their models configured `+database: published`),
         and checks that every product version it refs is there;
      2. registers file sources as tables (Spark; nothing on DuckDB);
      3. runs the governance policies and stops the build on an error.
    mesh: true in the mesh root; a domain's build is partial (P09 checks only the
    published products of the domains it installs). -#}
{% macro on_run_start(project, mesh=false) %}
    {%- if execute and project == project_name -%}
        {%- do duckmesh_platform.attach_published() -%}
        {%- do duckmesh_platform.register_file_sources() -%}
        {%- do duckmesh_platform.mesh_governance_on_run_start(partial=not mesh) -%}
    {%- endif -%}
{% endmacro %}


{#- The catalog alias upstream products are read from in a domain-alone build. -#}
{% macro published_database() %}
    {{ return(var('duckmesh_published_database', 'published')) }}
{% endmacro %}


{#- The upstream product versions this build refs that live in the publish: models of
    other packages configured with database = duckmesh_platform.published_database(), that a node of
    the root project depends on. Returns {unique_id: [ref'ing nodes]}. -#}
{% macro published_upstream_refs() %}
    {%- set alias = duckmesh_platform.published_database() -%}
    {%- set upstream = {} -%}
    {%- for node in graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
            | selectattr('database', 'equalto', alias) -%}
        {%- do upstream.update({node.unique_id: node}) -%}
    {%- endfor -%}
    {%- set used = {} -%}
    {%- if upstream -%}
        {%- for node in graph.nodes.values() if node.package_name == project_name -%}
            {%- for parent in node.depends_on.nodes if parent in upstream -%}
                {%- do used.setdefault(parent, []).append(node.name if node.resource_type != 'test'
                    else 'a test of ' ~ (node.attached_node or node.name).split('.')[2]) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return({'nodes': upstream, 'used': used}) }}
{% endmacro %}


{% macro attach_published() %}
    {%- do adapter.dispatch('attach_published', 'duckmesh_platform')() -%}
{% endmacro %}


{% macro default__attach_published() %}
    {%- set refs = duckmesh_platform.published_upstream_refs() -%}
    {%- if refs.used -%}
        {{ exceptions.raise_compiler_error("DuckMesh: " ~ project_name ~ " reads upstream products from the last publish, which only the DuckDB target supports; build the whole mesh on " ~ target.type ~ " instead (duckmesh scale-out build)") }}
    {%- endif -%}
{% endmacro %}


{% macro duckdb__attach_published() %}
    {%- set refs = duckmesh_platform.published_upstream_refs() -%}
    {%- if not refs.used -%}{{ return('') }}{%- endif -%}
    {%- set alias = duckmesh_platform.published_database() -%}
    {%- set folder = var('duckmesh_published', 'published') -%}
    {%- set project_dir = invocation_args_dict.get('project_dir') or '.' -%}
    {%- set path = (folder if folder.startswith('/') else project_dir ~ '/' ~ folder) ~ '/mesh.duckdb' -%}
    {%- set upstream = [] -%}
    {%- for uid in refs.used -%}
        {%- do upstream.append(refs.nodes[uid].package_name) -%}
    {%- endfor -%}
    {%- set upstream = upstream | unique | sort | join(', ') -%}
    {%- set attached = run_query("select count(*) from duckdb_databases() where database_name = '" ~ alias ~ "'").columns[0].values()[0] -%}
    {%- if attached == 0 -%}
        {%- set exists = run_query("select count(*) from glob('" ~ (path | replace("'", "''")) ~ "')").columns[0].values()[0] -%}
        {%- if exists == 0 -%}
            {{ exceptions.raise_compiler_error("DuckMesh: " ~ project_name ~ " reads the products of " ~ upstream ~ " from the last publish, but there is no publish at " ~ path ~ ". Make one first: `make build` (the whole mesh) or `duckmesh ci --domain <upstream domain>` from the mesh root; or point vars.duckmesh_published at the published/ folder.") }}
        {%- endif -%}
        {%- do run_query("attach '" ~ (path | replace("'", "''")) ~ "' as " ~ alias ~ " (read_only)") -%}
    {%- endif -%}
    {#- every upstream product version this build refs must be in the publish -#}
    {%- set present = run_query("select schema_name || '.' || table_name from duckdb_tables() where database_name = '" ~ alias ~ "' union all select schema_name || '.' || view_name from duckdb_views() where database_name = '" ~ alias ~ "'").columns[0].values() -%}
    {%- for uid, users in refs.used.items() | sort -%}
        {%- set node = refs.nodes[uid] -%}
        {%- if (node.schema ~ '.' ~ node.alias) not in present -%}
            {%- set versions = [] -%}
            {%- for other in refs.nodes.values() if other.package_name == node.package_name and other.name == node.name and (other.schema ~ '.' ~ other.alias) in present -%}
                {%- do versions.append('v' ~ other.version) -%}
            {%- endfor -%}
            {{ exceptions.raise_compiler_error("DuckMesh: " ~ project_name ~ " (" ~ (users | unique | join(', ')) ~ ") refs " ~ node.package_name ~ "." ~ node.name ~ (" v" ~ node.version if node.version is not none else "") ~ ", which the last publish (" ~ path ~ ") does not have" ~ (" (it has " ~ (versions | join(', ')) ~ ")" if versions else "") ~ ". Publish it first (`duckmesh ci --domain " ~ node.package_name ~ "`), or ref a published version: ref('" ~ node.package_name ~ "', '" ~ node.name ~ "', v=<n>).") }}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
