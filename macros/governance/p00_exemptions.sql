{#- P00: exemptions are themselves governed. Each entry of
    vars.duckmesh_governance.exemptions names a policy, what it exempts (node: a
    unique_id such as model.sales.orders.v1, and/or domain; optionally column), a
    reason and an expiry date (YYYY-MM-DD). A malformed or expired exemption is a
    violation and exempts nothing. Returns {'violations': [...], 'active': [...]}. -#}
{% macro governance_p00_exemptions(ctx) %}
    {%- set found = [] -%}
    {%- set active = [] -%}
    {%- set date = modules.re.compile('^\\d{4}-\\d{2}-\\d{2}$') -%}
    {%- for exemption in ctx.cfg.exemptions -%}
        {%- set entry = exemption if exemption is mapping else {} -%}
        {%- set expires = (entry.get('expires') | string) if entry.get('expires') is not none else '' -%}
        {%- set what = (entry.get('policy') or '?') ~ ' on ' ~ (entry.get('node') or entry.get('domain') or '?')
            ~ (' column ' ~ entry.get('column') if entry.get('column') else '') -%}
        {%- set problems = [] -%}
        {%- if not entry.get('policy') -%}{%- do problems.append('no policy') -%}{%- endif -%}
        {%- if not (entry.get('node') or entry.get('domain')) -%}{%- do problems.append('no node or domain') -%}{%- endif -%}
        {%- if not (entry.get('reason') or '') | trim -%}{%- do problems.append('no reason') -%}{%- endif -%}
        {%- if not date.match(expires) -%}{%- do problems.append('no expires date (YYYY-MM-DD)') -%}{%- endif -%}
        {%- if problems -%}
            {%- do found.append(duckmesh_platform.governance_violation('P00', entry.get('domain') or 'mesh', 'exemption.' ~ loop.index, none,
                'exemption #' ~ loop.index ~ ' (' ~ what ~ ') is malformed: ' ~ (problems | join(', ')),
                'give every exemption in vars.duckmesh_governance.exemptions of dbt_project.yml a policy, node or domain, reason and expires: YYYY-MM-DD')) -%}
        {%- elif expires < ctx.today -%}
            {%- do found.append(duckmesh_platform.governance_violation('P00', entry.get('domain') or 'mesh', 'exemption.' ~ loop.index, none,
                'exemption #' ~ loop.index ~ ' (' ~ what ~ ') expired on ' ~ expires,
                'fix the underlying ' ~ entry.policy ~ ' violation and remove the exemption, or renew it with a new expires date and reason (reviewed by the governance group)')) -%}
        {%- else -%}
            {%- do active.append(entry) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'violations': found, 'active': active}) }}
{% endmacro %}
