"""The pod's resolv.conf, as the kubelet forms it (kubernetes/kubernetes
pkg/kubelet/network/dns/dns.go: ``GetPodDNS`` and the helpers below it, ported one for one).

The kubelet hands the result to the runtime (CRI ``DNSConfig``), which writes the file; here the
kubelet writes it into the pod's directory itself and the runtime bind-mounts it at
/etc/resolv.conf (a CRI Mount), so host-command containers get it too. The node's resolver
configuration is ``--resolv-conf``: the host's /etc/resolv.conf, whose nameservers a pod cannot
reach (its network namespace has loopback only), so ``Default`` pods resolve nothing but what
the host's file lists on loopback.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hitless.api.types.pod import Pod, PodDNSConfig, PodDNSConfigOption
from hitless.store.events import WARNING, EventRecorder

# The default dns opt strings.
DEFAULT_DNS_OPTIONS = ["ndots:5"]
CLUSTER_DOMAIN = "cluster.local"
# pkg/apis/core/validation: MaxDNSNameservers; the Expanded search limits (ExpandedDNSConfig, GA
# in 1.28); utilvalidation.DNS1123SubdomainMaxLength.
MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
MAX_RESOLV_CONF_LENGTH = 10 * 1 << 20


@dataclass
class DNSConfig:
    """CRI's DNSConfig."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def resolv_conf(self) -> str:
        """The file containerd writes from it (``parseDNSOptions``): one line per kind, present
        only when non-empty."""
        lines = [f"search {' '.join(self.searches)}"] if self.searches else []
        lines += [f"nameserver {s}" for s in self.servers]
        if self.options:
            lines.append(f"options {' '.join(self.options)}")
        return "".join(line + "\n" for line in lines)


def omit_duplicates(strs: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for s in strs:
        if s not in seen:
            out.append(s)
            seen.add(s)
    return out


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """parseResolvConf: nameservers accumulate; the last search and options lines win."""
    nameservers: list[str] = []
    searches: list[str] = []
    options: list[str] = []
    for line in text[:MAX_RESOLV_CONF_LENGTH].split("\n"):
        trimmed = line.strip()
        if trimmed.startswith("#"):
            continue
        fields = trimmed.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) >= 2:
            nameservers.append(fields[1])
        if fields[0] == "search":
            # The same domain with and without its trailing dot counts once.
            searches = [s.removesuffix(".") for s in fields[1:]]
        if fields[0] == "options":
            options = fields[1:]
    return nameservers, searches, options


def merge_dns_options(existing: list[str], options: list[PodDNSConfigOption]) -> list[str]:
    """mergeDNSOptions: the pod's options override the base's by name. (Go iterates a map here,
    so upstream's order is random; this keeps first-seen order.)"""
    merged: dict[str, str] = {}
    for op in existing:
        name, sep, value = op.partition(":")
        merged[name] = value if sep else ""
    for o in options:
        merged[o.name or ""] = o.value if o.value is not None else ""
    return [f"{k}:{v}" if v != "" else k for k, v in merged.items()]


def append_dns_config(existing: DNSConfig, pod_config: PodDNSConfig) -> DNSConfig:
    return DNSConfig(
        servers=omit_duplicates(existing.servers + (pod_config.nameservers or [])),
        searches=omit_duplicates(existing.searches + (pod_config.searches or [])),
        options=merge_dns_options(existing.options, pod_config.options or []),
    )


class Configurer:
    """dns.Configurer: ``cluster_dns`` is the kubelet's --cluster-dns (empty: none configured),
    ``resolver_config`` its --resolv-conf ("" disables the host's file)."""

    def __init__(
        self,
        recorder: EventRecorder,
        cluster_dns: list[str],
        cluster_domain: str = CLUSTER_DOMAIN,
        resolver_config: str = "/etc/resolv.conf",
    ) -> None:
        self._recorder = recorder
        self.cluster_dns = cluster_dns
        self.cluster_domain = cluster_domain
        self.resolver_config = resolver_config

    def _host_dns_config(self) -> DNSConfig:
        if not self.resolver_config:
            return DNSConfig()
        try:
            text = Path(self.resolver_config).read_text(errors="replace")
        except OSError:
            # Upstream fails the pod's sandbox; a host without the file is no reason to here.
            return DNSConfig()
        return DNSConfig(*parse_resolv_conf(text))

    def _searches_for_cluster_first(self, host_search: list[str], pod: Pod) -> list[str]:
        if not self.cluster_domain:
            return host_search
        d = self.cluster_domain
        return omit_duplicates([f"{pod.namespace}.svc.{d}", f"svc.{d}", d, *host_search])

    def _search_fits_limits(self, composed: list[str], pod: Pod) -> list[str]:
        exceeded = False
        if len(composed) > MAX_DNS_SEARCH_PATHS:
            composed = composed[:MAX_DNS_SEARCH_PATHS]
            exceeded = True
        # Some resolvers (glibc 2.28) abort() on a search path over 255 characters.
        kept = [s for s in composed if len(s) <= DNS1123_SUBDOMAIN_MAX_LENGTH]
        exceeded = exceeded or len(kept) != len(composed)
        composed = kept
        line_len = len(" ".join(composed))
        if line_len > MAX_DNS_SEARCH_LIST_CHARS:
            cut_num = cut_len = 0
            for search in reversed(composed):
                cut_len += len(search) + 1
                cut_num += 1
                if line_len - cut_len <= MAX_DNS_SEARCH_LIST_CHARS:
                    break
            composed = composed[: len(composed) - cut_num]
            exceeded = True
        if exceeded:
            self._recorder.event(
                pod,
                WARNING,
                "DNSConfigForming",
                "Search Line limits were exceeded, some search paths have been omitted, "
                f"the applied search line is: {' '.join(composed)}",
            )
        return composed

    def _nameservers_fit_limits(self, nameservers: list[str], pod: Pod) -> list[str]:
        if len(nameservers) > MAX_DNS_NAMESERVERS:
            nameservers = nameservers[:MAX_DNS_NAMESERVERS]
            self._recorder.event(
                pod,
                WARNING,
                "DNSConfigForming",
                "Nameserver limits were exceeded, some nameservers have been omitted, "
                f"the applied nameserver line is: {' '.join(nameservers)}",
            )
        return nameservers

    def get_pod_dns(self, pod: Pod) -> DNSConfig:
        """GetPodDNS."""
        config = self._host_dns_config()
        policy = pod.spec.dns_policy or "ClusterFirst"
        if policy == "None":
            config = DNSConfig()
        elif policy == "ClusterFirstWithHostNet" or (policy == "ClusterFirst" and not pod.spec.host_network):
            if self.cluster_dns:
                # The cluster DNS is the pod's only nameserver: it answers (or refuses) the rest.
                config.servers = list(self.cluster_dns)
                config.searches = self._searches_for_cluster_first(config.searches, pod)
                config.options = list(DEFAULT_DNS_OPTIONS)
            else:
                message = (
                    "kubelet does not have ClusterDNS IP configured and cannot create Pod using "
                    '"ClusterFirst" policy. Falling back to "Default" policy.'
                )
                self._recorder.event(
                    pod,
                    WARNING,
                    "MissingClusterDNS",
                    f'pod: "{pod.name}_{pod.namespace}({pod.metadata.uid})". {message}',
                )
                config = self._host_default(config)
        else:  # Default, or ClusterFirst on the host network
            config = self._host_default(config)
        if pod.spec.dns_config is not None:
            config = append_dns_config(config, pod.spec.dns_config)
        config.servers = self._nameservers_fit_limits(config.servers, pod)
        config.searches = self._search_fits_limits(config.searches, pod)
        return config

    def _host_default(self, config: DNSConfig) -> DNSConfig:
        # --resolv-conf="": the resolver library's own default, a nameserver on this host.
        if not self.resolver_config:
            config.servers.append("127.0.0.1")
            config.searches = ["."]
        return config

    def write_resolv_conf(self, pod: Pod, directory: Path) -> Path:
        """The pod's resolv.conf, written into its directory (the sandbox's, on a node)."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "resolv.conf"
        path.write_text(self.get_pod_dns(pod).resolv_conf())
        path.chmod(0o644)
        return path
