"""A pod's /etc/hosts, /etc/hostname and /etc/resolv.conf, one set per pod, bound into each of
its image containers (a host-command container sees the host's own)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EtcFiles:
    hosts: Path
    hostname: Path
    resolv_conf: Path


def hosts_content(
    ip: str, hostname: str, domain: str | None = None, aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
) -> str:
    """The kubelet's managed hosts file (kubernetes/kubernetes pkg/kubelet/kubelet_pods.go,
    ``managedHostsFileContent`` and ``hostsEntriesFromHostAliases``): the boilerplate, the pod's
    own address and hostname (with its FQDN first when it has a subdomain), then hostAliases."""
    own = f"{ip}\t{hostname}.{domain}\t{hostname}\n" if domain else f"{ip}\t{hostname}\n"
    text = (
        "# Kubernetes-managed hosts file.\n"
        "127.0.0.1\tlocalhost\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "fe00::0\tip6-localnet\n"
        "fe00::0\tip6-mcastprefix\n"
        "fe00::1\tip6-allnodes\n"
        "fe00::2\tip6-allrouters\n"
    ) + own
    if aliases:
        text += "\n# Entries added by HostAliases.\n"
        text += "".join(f"{alias_ip}\t{chr(9).join(names)}\n" for alias_ip, names in aliases)
    return text


def resolv_conf_content(host_resolv_conf: Path = Path("/etc/resolv.conf")) -> str:
    """With no cluster DNS configured, the kubelet gives ClusterFirst pods the node's own
    resolv.conf (pkg/kubelet/network/dns/dns.go, "ClusterDNS is not configured" fallback).
    The pod's network namespace has loopback only, so only a loopback resolver answers."""
    try:
        return host_resolv_conf.read_text()
    except OSError:
        return ""


def write_etc_files(
    directory: Path,
    ip: str,
    hostname: str,
    domain: str | None = None,
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = (),
) -> EtcFiles:
    directory.mkdir(parents=True, exist_ok=True)
    files = EtcFiles(directory / "hosts", directory / "hostname", directory / "resolv.conf")
    files.hosts.write_text(hosts_content(ip, hostname, domain, aliases))
    files.hostname.write_text(f"{hostname}\n")
    files.resolv_conf.write_text(resolv_conf_content())
    for path in (files.hosts, files.hostname, files.resolv_conf):
        path.chmod(0o644)
    return files
