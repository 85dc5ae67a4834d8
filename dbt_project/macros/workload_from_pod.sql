{#-
    A pod's workload: its name without the suffixes Kubernetes generates (ReplicaSet hash and
    pod id, or a StatefulSet ordinal). Generated suffixes use the alphabet
    bcdfghjklmnpqrstvwxz2456789, so a name's own last word ("rag-embed") is kept. The collector
    applies the same rule (collectors/labels.py).
-#}
{% macro workload_from_pod(pod) %}
    regexp_replace(
        {{ pod }},
        '(-[bcdfghjklmnpqrstvwxz2456789]{6,10})?-[bcdfghjklmnpqrstvwxz2456789]{5}$|-[0-9]+$',
        ''
    )
{% endmacro %}
