"""Services: ``ValidateService`` of ``k8s.io/kubernetes/pkg/apis/core/validation/validation.go``.

On create, the API server allocates cluster IPs and node ports before it validates; a requested
``nodePort`` outside the node port range fails there, in the allocator's words, and validation
never runs. hitless checks that range the same way; it allocates nothing itself, so it does not
require the allocated fields (``clusterIPs``, ``healthCheckNodePort``) that validation expects.
"""

from __future__ import annotations

from hitless.api import errors as fe
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.gofmt import GoLiteral, quote
from hitless.api.validation import names
from hitless.api.validation.container import SUPPORTED_PORT_PROTOCOLS, validate_port_num_or_name
from hitless.api.validation.meta import (
    Obj,
    items,
    n,
    o,
    objs,
    opt_int,
    s,
    string_map,
    validate_labels,
    validate_object_meta,
)

SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")  # sets.List: sorted
SESSION_AFFINITIES = ("ClientIP", "None")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILY_POLICIES = ("PreferDualStack", "RequireDualStack", "SingleStack")
IP_FAMILIES = ("IPv4", "IPv6")
NODE_PORT_RANGE = (30000, 32767)  # kube-apiserver --service-node-port-range default
MAX_CLIENT_IP_AFFINITY_SECONDS = 86400


def validate_service(service: Obj) -> list[FieldError]:
    spec = o(service, "spec") or {}
    spec_path = Path.new("spec")
    allocation = _allocation_errors(spec, spec_path)
    if allocation:
        return allocation
    errs = validate_object_meta(
        o(service, "metadata"), True, names.name_is_dns1035_label, Path.new("metadata")
    )
    kind = s(spec, "type")
    headless = _headless(spec)
    ports = objs(spec, "ports")
    if not ports and not headless and kind != "ExternalName":
        errs.append(fe.required(spec_path.child("ports")))
    if kind in ("LoadBalancer", "NodePort") and headless:
        errs.append(
            fe.invalid(
                spec_path.child("clusterIPs").index(0),
                "None",
                f"may not be set to 'None' for {kind} services",
            )
        )
    elif kind == "ExternalName":
        errs += _validate_external_name(spec, spec_path)
    seen_names: set[str] = set()
    for i, port in enumerate(ports):
        errs += _validate_service_port(port, len(ports) > 1, seen_names, spec_path.child("ports").index(i))
    selector = string_map(spec, "selector")
    if selector is not None:
        errs += validate_labels(selector, spec_path.child("selector"))
    errs += _validate_session_affinity(spec, spec_path)
    errs += _validate_ip_families(spec, spec_path)
    if not kind:
        errs.append(fe.required(spec_path.child("type")))
    elif kind not in SERVICE_TYPES:
        errs.append(fe.not_supported(spec_path.child("type"), kind, SERVICE_TYPES))
    if kind == "ClusterIP":
        for i, port in enumerate(ports):
            if n(port, "nodePort"):
                errs.append(
                    fe.forbidden(
                        spec_path.child("ports").index(i).child("nodePort"),
                        "may not be used when `type` is 'ClusterIP'",
                    )
                )
    errs += _duplicate_ports(ports, spec_path.child("ports"))
    if items(spec, "loadBalancerSourceRanges") and kind != "LoadBalancer":
        errs.append(
            fe.forbidden(
                spec_path.child("LoadBalancerSourceRanges"), "may only be used when `type` is 'LoadBalancer'"
            )
        )
    if spec.get("allocateLoadBalancerNodePorts") is not None and kind != "LoadBalancer":
        errs.append(
            fe.forbidden(
                spec_path.child("allocateLoadBalancerNodePorts"),
                "may only be used when `type` is 'LoadBalancer'",
            )
        )
    errs += _validate_load_balancer_class(spec, spec_path.child("loadBalancerClass"))
    errs += _validate_traffic_policies(spec, spec_path)
    return errs


def _validate_load_balancer_class(spec: Obj, path: Path) -> list[FieldError]:
    """``validateLoadBalancerClassField`` on create."""
    value = spec.get("loadBalancerClass")
    if not isinstance(value, str):
        return []
    if s(spec, "type") != "LoadBalancer":
        return [fe.forbidden(path, "may only be used when `type` is 'LoadBalancer'")]
    return [fe.invalid(path, value, m) for m in names.is_qualified_name(value)]


def _headless(spec: Obj) -> bool:
    cluster_ips = items(spec, "clusterIPs")
    return cluster_ips == ["None"] or (not cluster_ips and s(spec, "clusterIP") == "None")


def _allocation_errors(spec: Obj, path: Path) -> list[FieldError]:
    """Requested node ports out of range, as the allocator (``ErrNotInRange``) reports them."""
    if s(spec, "type") not in ("NodePort", "LoadBalancer"):
        return []
    low, high = NODE_PORT_RANGE
    errs: list[FieldError] = []
    for i, port in enumerate(objs(spec, "ports")):
        node_port = n(port, "nodePort")
        if node_port and not low <= node_port <= high:
            detail = f"provided port is not in the valid range. The range of valid ports is {low}-{high}"
            errs.append(fe.invalid(path.child("ports").index(i).child("nodePort"), node_port, detail))
            break  # the allocator stops at the first failure
    return errs


def _validate_external_name(spec: Obj, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    if items(spec, "clusterIPs"):
        errs.append(fe.forbidden(path.child("clusterIPs"), "may not be set for ExternalName services"))
    if items(spec, "ipFamilies"):
        errs.append(fe.forbidden(path.child("ipFamilies"), "may not be set for ExternalName services"))
    if spec.get("ipFamilyPolicy") is not None:
        errs.append(fe.forbidden(path.child("ipFamilyPolicy"), "may not be set for ExternalName services"))
    cname = s(spec, "externalName").removesuffix(".")
    if cname:
        errs += [fe.invalid(path.child("externalName"), cname, m) for m in names.is_dns1123_subdomain(cname)]
    else:
        errs.append(fe.required(path.child("externalName")))
    return errs


def _validate_service_port(port: Obj, require_name: bool, seen: set[str], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    name = s(port, "name")
    if require_name and not name:
        errs.append(fe.required(path.child("name")))
    elif name:
        errs += [fe.invalid(path.child("name"), name, m) for m in names.is_dns1123_label(name)]
        if name in seen:
            errs.append(fe.duplicate(path.child("name"), name))
        else:
            seen.add(name)
    number = n(port, "port")
    errs += [fe.invalid(path.child("port"), number, m) for m in names.is_valid_port_num(number)]
    protocol = s(port, "protocol")
    if not protocol:
        errs.append(fe.required(path.child("protocol")))
    elif protocol not in SUPPORTED_PORT_PROTOCOLS:
        errs.append(fe.not_supported(path.child("protocol"), protocol, SUPPORTED_PORT_PROTOCOLS))
    errs += validate_port_num_or_name(port.get("targetPort"), path.child("targetPort"))
    if isinstance(app := port.get("appProtocol"), str):
        errs += [fe.invalid(path.child("appProtocol"), app, m) for m in names.is_qualified_name(app)]
    return errs


def _validate_session_affinity(spec: Obj, path: Path) -> list[FieldError]:
    affinity = s(spec, "sessionAffinity")
    config = o(spec, "sessionAffinityConfig")
    if not affinity:
        return [fe.required(path.child("sessionAffinity"))]
    if affinity not in SESSION_AFFINITIES:
        return [fe.not_supported(path.child("sessionAffinity"), affinity, SESSION_AFFINITIES)]
    config_path = path.child("sessionAffinityConfig")
    if affinity == "None":
        return (
            [fe.forbidden(config_path, "must not be set when session affinity is None")]
            if config is not None
            else []
        )
    detail = "when session affinity type is ClientIP"
    client_ip = o(config, "clientIP")
    if config is None:
        return [fe.required(config_path, detail)]
    if client_ip is None:
        return [fe.required(config_path.child("clientIP"), detail)]
    timeout = opt_int(client_ip, "timeoutSeconds")
    timeout_path = config_path.child("clientIP", "timeoutSeconds")
    if timeout is None:
        return [fe.required(timeout_path, detail)]
    if timeout <= 0 or timeout > MAX_CLIENT_IP_AFFINITY_SECONDS:
        return [
            fe.invalid(
                timeout_path,
                timeout,
                f"must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}",
            )
        ]
    return []


def _validate_ip_families(spec: Obj, path: Path) -> list[FieldError]:
    # Only the value checks of ValidateServiceClusterIPsRelatedFields; the allocator's fields are
    # not required, since hitless allocates no cluster IPs.
    errs: list[FieldError] = []
    if s(spec, "type") == "ExternalName":
        return errs
    policy = spec.get("ipFamilyPolicy")
    if isinstance(policy, str) and policy not in IP_FAMILY_POLICIES:
        errs.append(fe.not_supported(path.child("ipFamilyPolicy"), policy, IP_FAMILY_POLICIES))
    for i, family in enumerate(items(spec, "ipFamilies")):
        if isinstance(family, str) and family not in IP_FAMILIES:
            errs.append(fe.not_supported(path.child("ipFamilies").index(i), family, IP_FAMILIES))
    return errs


def _duplicate_ports(ports: list[Obj], path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    node_ports: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (s(port, "protocol"), n(port, "nodePort"))
        if key[1] and key in node_ports:
            errs.append(fe.duplicate(path.index(i).child("nodePort"), key[1]))
        node_ports.add(key)
    seen: set[tuple[str, int]] = set()
    for i, port in enumerate(ports):
        key = (s(port, "protocol"), n(port, "port"))
        if key in seen:
            # Upstream reports the internal core.ServicePort key struct with %#v.
            value = GoLiteral(
                f'core.ServicePort{{Name:"", Protocol:{quote(key[0])}, AppProtocol:(*string)(nil), '
                f"Port:{key[1]}, "
                'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}'
            )
            errs.append(fe.duplicate(path.index(i), value))
        seen.add(key)
    return errs


def _validate_traffic_policies(spec: Obj, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    kind = s(spec, "type")
    external = s(spec, "externalTrafficPolicy")
    accessible = kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(items(spec, "externalIPs"))
    )
    if not accessible:
        if external:
            errs.append(
                fe.invalid(
                    path.child("externalTrafficPolicy"),
                    external,
                    "may only be set for externally-accessible services",
                )
            )
    elif not external:
        errs.append(fe.required(path.child("externalTrafficPolicy")))
    elif external not in TRAFFIC_POLICIES:
        errs.append(fe.not_supported(path.child("externalTrafficPolicy"), external, TRAFFIC_POLICIES))
    health = n(spec, "healthCheckNodePort")
    needs_health_check = kind == "LoadBalancer" and external == "Local"
    if not needs_health_check and health:
        detail = "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"
        errs.append(fe.invalid(path.child("healthCheckNodePort"), health, detail))
    elif needs_health_check and health:
        errs += [
            fe.invalid(path.child("healthCheckNodePort"), health, m) for m in names.is_valid_port_num(health)
        ]
    internal = spec.get("internalTrafficPolicy")
    if internal is None and kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        errs.append(fe.required(path.child("internalTrafficPolicy")))
    if isinstance(internal, str) and internal not in TRAFFIC_POLICIES:
        errs.append(fe.not_supported(path.child("internalTrafficPolicy"), internal, TRAFFIC_POLICIES))
    # trafficDistribution is not checked: 1.34 accepts PreferClose and, behind a gate whose default
    # hitless could not confirm, PreferSameZone/PreferSameNode; rejecting a valid value is worse.
    return errs
