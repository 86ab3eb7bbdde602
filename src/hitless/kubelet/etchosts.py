"""What the kubelet puts in a pod's /etc/hosts beyond its IP and hostname (the runtime writes
the file, from PodSandboxConfig): kubernetes/kubernetes pkg/kubelet/kubelet_pods.go
(GeneratePodHostNameAndDomain, hostsEntriesFromHostAliases)."""

from __future__ import annotations

from typing import Any

from hitless.api.types.pod import Pod

# The kubelet's --cluster-domain as every cluster sets it.
CLUSTER_DOMAIN = "cluster.local"


def etc_hosts_extras(pod: Pod) -> dict[str, Any]:
    """``host_domain`` and ``host_aliases`` for the pod's PodSandboxConfig."""
    extra = pod.spec.model_extra or {}
    subdomain = pod.spec.subdomain
    domain = f"{subdomain}.{pod.namespace or 'default'}.svc.{CLUSTER_DOMAIN}" if subdomain else None
    aliases = tuple(
        (str(entry.get("ip", "")), tuple(str(h) for h in entry.get("hostnames") or []))
        for entry in extra.get("hostAliases") or []
        if isinstance(entry, dict)
    )
    return {"host_domain": domain, "host_aliases": aliases}
