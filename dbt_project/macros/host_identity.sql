{#-
    One machine, one name (docs/host-identity.md). A staging model that reads a host name joins
    the host map with `host_aliases_join(host)` and selects `resolved_host(host)`, and where the
    source also carries a cloud resource id, `resolved_cloud_resource_id(resource, host)`:

    1. the row's own cloud resource id (the collector's, from instance metadata or --resource-id);
    2. the host map's (telemetry/hosts.csv) for that name;
    3. the host name itself where it is an EC2 instance id (i-0123abcd, i-0123456789abcdef0:
       dcgm-exporter's Hostname on an EC2 node) or a GKE node's name, which is its GCE
       instance's name (gke-<cluster>-<pool>-<8 hex>-<4>), the id GCP bills carry.
-#}

{% macro host_aliases_join(host) -%}
    left join {{ ref('stg_telemetry__host_aliases') }} as host_aliases
        on host_aliases.alias = {{ host }}
{%- endmacro %}

{% macro resolved_host(host) -%}
    coalesce(host_aliases.host, {{ host }})
{%- endmacro %}

{% macro resolved_cloud_resource_id(resource, host) -%}
    coalesce(
        {{ resource }},
        host_aliases.cloud_resource_id,
        case
            when {{ regexp_matches(resolved_host(host), "'^(i-[0-9a-f]{8}|i-[0-9a-f]{17}|gke-[a-z0-9-]+-[0-9a-f]{8}-[a-z0-9]{4})$'") }}
                then {{ resolved_host(host) }}
        end
    )
{%- endmacro %}

{% macro regexp_matches(text, pattern) %}
    {{ return(adapter.dispatch('regexp_matches')(text, pattern)) }}
{% endmacro %}

{% macro default__regexp_matches(text, pattern) -%}
    regexp_matches({{ text }}, {{ pattern }})
{%- endmacro %}

{% macro spark__regexp_matches(text, pattern) -%}
    ({{ text }} rlike {{ pattern }})
{%- endmacro %}
