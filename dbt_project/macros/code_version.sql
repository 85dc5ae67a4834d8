{#-
    The version of the code a model's rows come from: its own SQL, the SQL of every model upstream
    of it, and every macro of this project that any of them calls, directly or through another
    macro (with the `default__` and `<adapter>__` implementations a dispatching macro may call).

    The models incremental by billing period keep it with each period they
    build (billing_periods.sql), so a run after a change to any of that code (an upgrade
    of gpuledger, a fix to a macro) rebuilds every partition, as a full refresh would, instead
    of keeping partitions built by the old code beside ones built by the new. dbt's own macros
    and the adapter's are not part of it: upgrading dbt or its adapter needs a full refresh.
-#}
{% macro code_version(node=none) %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set node = node if node is not none else model -%}
    {#- Worked out once per node and dbt invocation: graph is shared by every node's context. -#}
    {%- set memo = graph.setdefault('gpuledger_code_versions', {}) -%}
    {%- if node.unique_id in memo -%}
        {{ return(memo[node.unique_id]) }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- set macros = [] -%}
    {%- set seen = [node.unique_id] -%}
    {%- set frontier = [node] -%}
    {#- Upstream models, breadth first (a loop over a growing list is not allowed in Jinja). -#}
    {%- for _ in range(graph.nodes | length + 1) if frontier -%}
        {%- set current = frontier.pop(0) -%}
        {%- do parts.append(current.unique_id ~ '=' ~ current.checksum.checksum) -%}
        {%- do macros.extend(current.depends_on.macros) -%}
        {%- for parent in current.depends_on.nodes
            if parent not in seen and parent in graph.nodes
            and graph.nodes[parent].resource_type == 'model' -%}
            {%- do seen.append(parent) -%}
            {%- do frontier.append(graph.nodes[parent]) -%}
        {%- endfor -%}
    {%- endfor -%}
    {#- The project's macros they call, and the macros those call. -#}
    {%- set prefix = 'macro.' ~ project_name ~ '.' -%}
    {%- set names = [] -%}
    {%- for unique_id in macros if unique_id.startswith(prefix) -%}
        {%- do names.append(unique_id[prefix | length:]) -%}
    {%- endfor -%}
    {%- set done = [] -%}
    {%- for _ in range(500) if names -%}
        {%- set name = names.pop(0) -%}
        {%- if name not in done -%}
            {%- do done.append(name) -%}
            {%- set found = context.get(name) -%}
            {%- if found is not none and found.macro is defined
                and found.macro.package_name == project_name -%}
                {%- do parts.append(name ~ '=' ~ local_md5(found.macro.macro_sql)) -%}
                {%- for called in found.macro.depends_on.macros if called.startswith(prefix) -%}
                    {%- do names.append(called[prefix | length:]) -%}
                {%- endfor -%}
                {%- for dispatched in ['default__' ~ name, target.type ~ '__' ~ name] -%}
                    {%- do names.append(dispatched) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set version = local_md5(parts | sort | join('|'))[:16] -%}
    {%- do memo.update({node.unique_id: version}) -%}
    {{ return(version) }}
{% endmacro %}
