{#- Entry points of the mesh's federated computational governance.
    - duckmesh_platform.mesh_governance_on_run_start(): the root project's on-run-start hook; fails
      every dbt build/run before any model runs when a policy reports an error.
    - duckmesh_platform.mesh_governance(format): `dbt run-operation mesh_governance [--args '{format: json}']`
      prints the report (text, or one JSON line for the duckmesh CLI); text fails
      on errors.
    Policies: one macro per file, governance_pNN_*(ctx) -> list of violations. They
    judge the project (graph, yml, package files), never where the source data lies:
    `duckmesh governance check` may judge the manifest of the last `duckmesh build`,
    parsed with that build's data folder (scripts/duckmesh/core/fingerprint.py). -#}
{% macro governance_policies() %}
    {{ return([
        ('P01', duckmesh_platform.governance_p01_contracts),
        ('P02', duckmesh_platform.governance_p02_ownership_docs),
        ('P03', duckmesh_platform.governance_p03_access),
        ('P04', duckmesh_platform.governance_p04_addresses),
        ('P05', duckmesh_platform.governance_p05_field_types),
        ('P06', duckmesh_platform.governance_p06_pii),
        ('P07', duckmesh_platform.governance_p07_keys_metadata),
        ('P08', duckmesh_platform.governance_p08_deprecations),
        ('P09', duckmesh_platform.governance_p09_breaking_changes),
        ('P10', duckmesh_platform.governance_p10_portability),
        ('P11', duckmesh_platform.governance_p11_consumer_access),
        ('P12', duckmesh_platform.governance_p12_lineage_access)
    ]) }}
{% endmacro %}


{#- Run every policy; apply severities and exemptions.
    Returns {'violations': [...], 'exempted': n, 'models': n, 'seconds': s}. -#}
{% macro governance_check(partial=false) %}
    {%- set started = modules.datetime.datetime.now() -%}
    {%- set ctx = duckmesh_platform.governance_context(partial) -%}
    {%- set severity = ctx.cfg.severity -%}
    {%- set exemptions = duckmesh_platform.governance_p00_exemptions(ctx) -%}
    {%- set raw = [] -%}
    {%- do raw.extend(exemptions.violations) -%}
    {%- set timings = {'context': (modules.datetime.datetime.now() - started).total_seconds()} -%}
    {%- for policy, check in duckmesh_platform.governance_policies() if severity.get(policy, 'error') != 'off' -%}
        {%- set policy_started = modules.datetime.datetime.now() -%}
        {%- do raw.extend(check(ctx)) -%}
        {%- do timings.update({policy: (modules.datetime.datetime.now() - policy_started).total_seconds()}) -%}
    {%- endfor -%}
    {%- set applied = duckmesh_platform.governance_apply(ctx.cfg, exemptions.active, raw) -%}
    {%- set elapsed = modules.datetime.datetime.now() - started -%}
    {{ return({
        'violations': applied.violations | sort(attribute='policy,domain,node') | list,
        'exempted': applied.exempted,
        'models': ctx.models | length,
        'public_models': ctx.public | length,
        'seconds': elapsed.total_seconds(),
        'timings': timings
    }) }}
{% endmacro %}


{#- The mesh's severities (cfg.severity) and its active exemptions applied to raw
    findings: a policy set to off drops them, an exemption waives them (counted), warn
    lowers an error. A finding marked binding (a domain setting the mesh's governance
    vars, P00) is an error whatever the settings. The platform applies the same to the
    policies it checks over compiled SQL (scripts/duckmesh/governance/gate.py).
    Returns {'violations': [...], 'exempted': n}. -#}
{% macro governance_apply(cfg, active, raw) %}
    {%- set violations = [] -%}
    {%- set exempted = namespace(count=0) -%}
    {%- for v in raw -%}
        {%- set configured = 'error' if v.get('binding') else cfg.severity.get(v.policy, 'error') -%}
        {%- set waived = [] -%}
        {%- for e in active if not v.get('binding') and e.policy == v.policy
                and (not e.get('node') or e.node == v.node)
                and (not e.get('domain') or e.domain == v.domain)
                and (not e.get('column') or (e.column | lower) == (v.column or '') | lower) -%}
            {%- do waived.append(e) -%}
        {%- endfor -%}
        {%- if configured == 'off' -%}
        {%- elif waived -%}
            {%- set exempted.count = exempted.count + 1 -%}
        {%- else -%}
            {%- do v.update({'severity': 'warn' if 'warn' in (configured, v.level) else 'error'}) -%}
            {%- do violations.append(v) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'violations': violations, 'exempted': exempted.count}) }}
{% endmacro %}


{#- One line per violation: [P01 error] domain sales, model.sales.orders.v1, column x: what. Fix: how. -#}
{% macro governance_report(result) %}
    {%- set errors = result.violations | selectattr('severity', 'equalto', 'error') | list -%}
    {%- set warnings = result.violations | selectattr('severity', 'equalto', 'warn') | list -%}
    {%- set lines = ['DuckMesh governance: ' ~ errors | length ~ ' error(s), ' ~ warnings | length ~ ' warning(s), '
        ~ result.exempted ~ ' exempted, over ' ~ result.models ~ ' models (' ~ result.public_models
        ~ ' public) in ' ~ '%.3f' | format(result.seconds) ~ 's'] -%}
    {%- for v in errors + warnings -%}
        {%- do lines.append('[' ~ v.policy ~ ' ' ~ v.severity ~ '] domain ' ~ v.domain ~ ', ' ~ v.node
            ~ (', column ' ~ v.column if v.column else '') ~ ': ' ~ v.message ~ '. Fix: ' ~ v.fix ~ '.') -%}
    {%- endfor -%}
    {%- if result.violations -%}
        {%- do lines.append('Policies, severities and exemptions: macros/governance/_policies.yml and vars.duckmesh_governance in dbt_project.yml.') -%}
    {%- endif -%}
    {{ return(lines | join('\n')) }}
{% endmacro %}


{#- Raise (stop the build) on errors, log the report otherwise. -#}
{% macro mesh_governance_on_run_start(partial=false) %}
    {%- if execute -%}
        {%- set result = duckmesh_platform.governance_check(partial) -%}
        {%- set report = duckmesh_platform.governance_report(result) -%}
        {%- if result.violations | selectattr('severity', 'equalto', 'error') | list -%}
            {{ exceptions.raise_compiler_error(report) }}
        {%- endif -%}
        {{ log(report, info=true) }}
    {%- endif -%}
    select 1 as governance_passed
{% endmacro %}


{#- `dbt run-operation duckmesh_platform.mesh_governance [--args '{format: json}']`
    from the mesh root or from a domain (partial: true) -#}
{% macro mesh_governance(format='text', partial=false) %}
    {%- set result = duckmesh_platform.governance_check(partial) -%}
    {%- if format == 'json' -%}
        {{ log('DUCKMESH_GOVERNANCE_JSON ' ~ tojson(result), info=true) }}
    {%- else -%}
        {%- set report = duckmesh_platform.governance_report(result) -%}
        {%- if result.violations | selectattr('severity', 'equalto', 'error') | list -%}
            {{ exceptions.raise_compiler_error(report) }}
        {%- endif -%}
        {{ log(report, info=true) }}
    {%- endif -%}
{% endmacro %}
