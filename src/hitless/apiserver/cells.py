"""The cells kubectl prints for each kind, from the object's API JSON (so that kinds kept
generically work too): pkg/printers/internalversion/printers.go's printPod, printDeployment,
printReplicaSet, printService, printNode, printEvent, printNamespace, printEndpointSlice,
printConfigMap, printSecret, printStatefulSet, printDaemonSet, printPodDisruptionBudget, and the
default handler's NAME and AGE.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.output.printers import human_duration, pod_row

Cells = list[Any]
Json = dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _age(value: Any, now: datetime) -> str:
    t = parse_time(value)
    return "<unknown>" if t is None else human_duration((now - t).total_seconds())


def _meta(d: Json) -> Json:
    m = d.get("metadata")
    return m if isinstance(m, dict) else {}


def _containers_images(template_spec: Json) -> tuple[str, str]:
    cs = template_spec.get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _selector(sel: Any) -> str:
    if not isinstance(sel, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, key, values = e.get("operator"), e.get("key"), ",".join(sorted(e.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) if parts else "<none>"


def pod(obj: K8sObject, d: Json, now: datetime) -> Cells:
    meta, spec, status = _meta(d), d.get("spec") or {}, d.get("status") or {}
    if isinstance(obj, Pod):
        name, ready, reason, restarts, age = pod_row(obj, now)
    else:
        name, ready, reason, restarts, age = meta.get("name", ""), "0/0", status.get("phase", ""), "0", ""
    gates = spec.get("readinessGates") or []
    if gates:
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        true = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
        gates_text = f"{true}/{len(gates)}"
    else:
        gates_text = "<none>"
    return [
        name,
        ready,
        reason,
        restarts,
        age,
        status.get("podIP") or "<none>",
        spec.get("nodeName") or "<none>",
        status.get("nominatedNodeName") or "<none>",
        gates_text,
    ]


def deployment(d: Json, now: datetime) -> Cells:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    tspec = (spec.get("template") or {}).get("spec") or {}
    containers, images = _containers_images(tspec)
    return [
        _meta(d).get("name", ""),
        f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
        _age(_meta(d).get("creationTimestamp"), now),
        containers,
        images,
        _selector(spec.get("selector")),
    ]


def replicaset(d: Json, now: datetime) -> Cells:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    tspec = (spec.get("template") or {}).get("spec") or {}
    containers, images = _containers_images(tspec)
    return [
        _meta(d).get("name", ""),
        spec.get("replicas", 0),
        status.get("replicas", 0),
        status.get("readyReplicas", 0),
        _age(_meta(d).get("creationTimestamp"), now),
        containers,
        images,
        _selector(spec.get("selector")),
    ]


def service(d: Json, now: datetime) -> Cells:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    type_ = spec.get("type") or "ClusterIP"
    external: list[str] = list(spec.get("externalIPs") or [])
    if type_ == "LoadBalancer":
        ingress = [
            i.get("ip") or i.get("hostname") for i in (status.get("loadBalancer") or {}).get("ingress") or []
        ]
        external = [*filter(None, ingress), *external] or ["<pending>"]
    elif type_ == "ExternalName":
        external = [spec.get("externalName", "")]
    ports = []
    for p in spec.get("ports") or []:
        text = f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort"):
            text = f"{p.get('port')}:{p.get('nodePort')}/{p.get('protocol', 'TCP')}"
        ports.append(text)
    selector = spec.get("selector")
    return [
        _meta(d).get("name", ""),
        type_,
        spec.get("clusterIP") or "<none>",
        ",".join(external) if external else "<none>",
        ",".join(ports) if ports else "<none>",
        _age(_meta(d).get("creationTimestamp"), now),
        ",".join(f"{k}={v}" for k, v in sorted(selector.items())) if selector else "<none>",
    ]


def node(d: Json, now: datetime) -> Cells:
    meta, spec, status = _meta(d), d.get("spec") or {}, d.get("status") or {}
    conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    states = []
    ready = conditions.get("Ready")
    states.append("Ready" if ready == "True" else "NotReady" if ready else "Unknown")
    if spec.get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = sorted(
        k.removeprefix("node-role.kubernetes.io/")
        for k in (meta.get("labels") or {})
        if k.startswith("node-role.kubernetes.io/")
    )
    info = status.get("nodeInfo") or {}
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    return [
        meta.get("name", ""),
        ",".join(states),
        ",".join(roles) or "<none>",
        _age(meta.get("creationTimestamp"), now),
        info.get("kubeletVersion", ""),
        addresses.get("InternalIP") or "<none>",
        addresses.get("ExternalIP") or "<none>",
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


def event(d: Json, now: datetime) -> Cells:
    meta = _meta(d)
    first = d.get("firstTimestamp") or d.get("eventTime") or meta.get("creationTimestamp")
    last = d.get("lastTimestamp") or first
    series = d.get("series") or {}
    count = d.get("count") or series.get("count") or 1
    last_seen = _age(last, now)
    if count > 1:
        last_seen = f"{last_seen} (x{count} over {_age(first, now)})"
    obj = d.get("involvedObject") or {}
    source = d.get("source") or {}
    source_text = source.get("component") or d.get("reportingComponent") or ""
    if source.get("host"):
        source_text = f"{source_text}, {source['host']}"
    return [
        last_seen,
        d.get("type", ""),
        d.get("reason", ""),
        f"{str(obj.get('kind', '')).lower()}/{obj.get('name', '')}",
        obj.get("fieldPath", ""),
        source_text,
        d.get("message", ""),
        _age(first, now),
        count,
        meta.get("name", ""),
    ]


def namespace(d: Json, now: datetime) -> Cells:
    phase = (d.get("status") or {}).get("phase") or "Active"
    return [_meta(d).get("name", ""), phase, _age(_meta(d).get("creationTimestamp"), now)]


def endpointslice(d: Json, now: datetime) -> Cells:
    ports = [str(p.get("port")) if p.get("port") is not None else "<unset>" for p in d.get("ports") or []]
    addresses = [a for e in d.get("endpoints") or [] for a in e.get("addresses") or []]
    text = ",".join(addresses[:3]) if addresses else "<none>"
    if len(addresses) > 3:
        text += f" + {len(addresses) - 3} more..."
    return [
        _meta(d).get("name", ""),
        d.get("addressType", ""),
        ",".join(ports) or "<unset>",
        text,
        _age(_meta(d).get("creationTimestamp"), now),
    ]


def configmap(d: Json, now: datetime) -> Cells:
    count = len(d.get("data") or {}) + len(d.get("binaryData") or {})
    return [_meta(d).get("name", ""), count, _age(_meta(d).get("creationTimestamp"), now)]


def secret(d: Json, now: datetime) -> Cells:
    return [
        _meta(d).get("name", ""),
        d.get("type", "Opaque"),
        len(d.get("data") or {}),
        _age(_meta(d).get("creationTimestamp"), now),
    ]


def statefulset(d: Json, now: datetime) -> Cells:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    containers, images = _containers_images((spec.get("template") or {}).get("spec") or {})
    desired = spec.get("replicas", 1)
    return [
        _meta(d).get("name", ""), f"{status.get('readyReplicas', 0)}/{desired}",
        _age(_meta(d).get("creationTimestamp"), now), containers, images,
    ]  # fmt: skip


def daemonset(d: Json, now: datetime) -> Cells:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    tspec = (spec.get("template") or {}).get("spec") or {}
    containers, images = _containers_images(tspec)
    node_selector = tspec.get("nodeSelector") or {}
    return [
        _meta(d).get("name", ""), status.get("desiredNumberScheduled", 0),
        status.get("currentNumberScheduled", 0), status.get("numberReady", 0),
        status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
        ",".join(f"{k}={v}" for k, v in sorted(node_selector.items())) or "<none>",
        _age(_meta(d).get("creationTimestamp"), now), containers, images, _selector(spec.get("selector")),
    ]  # fmt: skip


def pdb(d: Json, now: datetime) -> Cells:
    spec, status = d.get("spec") or {}, d.get("status") or {}
    return [
        _meta(d).get("name", ""), str(spec.get("minAvailable", "N/A")),
        str(spec.get("maxUnavailable", "N/A")), status.get("disruptionsAllowed", 0),
        _age(_meta(d).get("creationTimestamp"), now),
    ]  # fmt: skip


def default(d: Json, now: datetime) -> Cells:
    return [_meta(d).get("name", ""), _age(_meta(d).get("creationTimestamp"), now)]


def role(d: Json, now: datetime) -> Cells:
    """printRole / printClusterRole: the creation time as RFC 3339, not an age."""
    return [_meta(d).get("name", ""), _meta(d).get("creationTimestamp", "")]


def role_binding(d: Json, now: datetime) -> Cells:
    """printRoleBinding / printClusterRoleBinding, with rbac SubjectsStrings for -o wide."""
    ref = d.get("roleRef") or {}
    subjects = d.get("subjects") or []

    def of(kind: str) -> str:
        if kind == "ServiceAccount":
            names = [
                f"{s.get('namespace', '')}/{s.get('name', '')}" for s in subjects if s.get("kind") == kind
            ]
        else:
            names = [s.get("name", "") for s in subjects if s.get("kind") == kind]
        return ", ".join(names)

    return [
        _meta(d).get("name", ""),
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _age(_meta(d).get("creationTimestamp"), now),
        of("User"),
        of("Group"),
        of("ServiceAccount"),
    ]
