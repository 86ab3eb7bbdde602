"""Discovery: ``/version``, ``/api``, ``/apis``, the per-group-version resource lists, and
aggregated discovery (apidiscovery.k8s.io v2 and v2beta1), all from the kind table.

Shapes from k8s.io/apimachinery/pkg/apis/meta/v1 (APIVersions, APIGroupList, APIResourceList)
and k8s.io/api/apidiscovery/v2 (APIGroupDiscoveryList). Aggregated discovery is negotiated: it
is sent only to a client whose ``Accept`` offers it, with its media type as ``Content-Type``
(client-go discovery/aggregated_discovery.go ignores a body whose type says otherwise).
"""

from __future__ import annotations

import platform
import sys
from typing import Any

from hitless import KUBERNETES_VERSION, __version__
from hitless.apiserver import kinds
from hitless.apiserver.kinds import Resource

Json = dict[str, Any]

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

# Subresource -> (group, version, kind it takes and returns, verbs), as kube-apiserver lists them.
_SUBRESOURCES: dict[str, tuple[str | None, str | None, str | None, tuple[str, ...]]] = {
    "status": (None, None, None, ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "log": (None, None, None, ("get",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),
    "binding": (None, None, "Binding", ("create",)),
    "proxy": (None, None, "PodProxyOptions", ("create", "delete", "get", "patch", "update")),
    "token": ("authentication.k8s.io", "v1", "TokenRequest", ("create",)),
}


def version() -> Json:
    major, minor = KUBERNETES_VERSION.split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{major}.{minor}.0+hitless-{__version__}",
        "gitCommit": "",
        "gitTreeState": "clean",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "compiler": "cpython",
        "platform": f"{platform.system().lower()}/{platform.machine()}",
    }


def _sub(r: Resource, name: str) -> tuple[str, str, str, tuple[str, ...]]:
    group, ver, kind, verbs = _SUBRESOURCES[name]
    return (group if group is not None else r.group, ver or r.version, kind or r.kind, verbs)


def resource_list(group: str, ver: str) -> Json | None:
    """``/api/v1``, ``/apis/apps/v1``: the legacy APIResourceList."""
    rs = [r for r in kinds.resources() if r.group == group and r.version == ver]
    if not rs:
        return None
    items: list[Json] = []
    for r in rs:
        entry: Json = {
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        items.append(entry)
        for name in r.subresources:
            sgroup, sver, skind, verbs = _sub(r, name)
            sub: Json = {"name": f"{r.plural}/{name}", "singularName": "", "namespaced": r.namespaced}
            if (sgroup, sver) != (r.group, r.version):
                sub["group"], sub["version"] = sgroup, sver
            sub["kind"] = skind
            sub["verbs"] = list(verbs)
            items.append(sub)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{ver}" if group else ver,
        "resources": items,
    }


def api_versions(server_address: str) -> Json:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list() -> Json:
    groups = []
    for group, versions in kinds.group_versions().items():
        if not group:
            continue
        gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        groups.append({"name": group, "versions": gvs, "preferredVersion": gvs[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _aggregated_group(group: str, versions: list[str]) -> Json:
    out_versions = []
    for ver in versions:
        resources = []
        for r in kinds.resources():
            if r.group != group or r.version != ver:
                continue
            entry: Json = {
                "resource": r.plural,
                "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                "scope": "Namespaced" if r.namespaced else "Cluster",
                "singularResource": r.singular,
                "verbs": list(r.verbs),
            }
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            subs = []
            for name in r.subresources:
                sgroup, sver, skind, verbs = _sub(r, name)
                subs.append(
                    {
                        "subresource": name,
                        "responseKind": {"group": sgroup, "version": sver, "kind": skind},
                        "verbs": list(verbs),
                    }
                )
            if subs:
                entry["subresources"] = subs
            resources.append(entry)
        out_versions.append({"version": ver, "resources": resources, "freshness": "Current"})
    return {"metadata": {"name": group, "creationTimestamp": None}, "versions": out_versions}


def aggregated(core: bool, media_version: str) -> Json:
    """``/api`` (core) or ``/apis`` as an APIGroupDiscoveryList of ``media_version`` (v2 or v2beta1)."""
    items = [
        _aggregated_group(group, versions)
        for group, versions in kinds.group_versions().items()
        if (group == "") == core
    ]
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{media_version}",
        "metadata": {},
        "items": items,
    }


def negotiate(accept: str) -> str | None:
    """The aggregated discovery version the client accepts (v2 first), or None for legacy."""
    offered = [part.strip().replace(" ", "") for part in accept.split(",")]
    for media, ver in ((AGGREGATED_V2, "v2"), (AGGREGATED_V2BETA1, "v2beta1")):
        if any(o.split(";q=")[0] == media for o in offered):
            return ver
    return None
