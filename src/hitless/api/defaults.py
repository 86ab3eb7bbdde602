"""Kubernetes defaulting, applied to the decoded JSON dict before validation, as the API server does.

Sources: ``k8s.io/kubernetes/pkg/apis/core/v1/defaults.go``, ``pkg/apis/apps/v1/defaults.go`` and the
generated ``zz_generated.defaults.go`` (``+default`` tags: container port and service port
protocol, gRPC probe service). Because defaulting comes first, a written ``periodSeconds: 0`` is
10 by the time validation looks at it, exactly as on a cluster.

Also applied here, although upstream does it in the create strategy or the Service allocator:
``metadata.namespace`` (the request's namespace, ``default``), ``status`` cleared, ``clusterIPs``
following ``clusterIP``, and ``ipFamilyPolicy: SingleStack`` / ``ipFamilies: [IPv4]`` for a
single-stack IPv4 cluster. Cluster IPs and node ports themselves are not allocated here.
"""

from __future__ import annotations

import re
from typing import Any

from hitless.api.defaults_more import OTHER_DEFAULTS as _OTHER_DEFAULTS
from hitless.api.kinds import is_namespaced

Obj = dict[str, Any]

DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30
TERMINATION_MESSAGE_PATH_DEFAULT = "/dev/termination-log"
DEFAULT_CLIENT_IP_SERVICE_AFFINITY_SECONDS = 10800
VOLUME_DEFAULT_MODE = 0o644
SERVICE_ACCOUNT_TOKEN_EXPIRATION_SECONDS = 3600

_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def apply_defaults(obj: Obj) -> None:
    """Default a decoded Pod, Deployment or Service in place."""
    meta = _sub(obj, "metadata")
    kind = obj.get("kind")
    if is_namespaced(str(kind)):
        _unset_to(meta, "namespace", "default")
    else:
        meta.pop("namespace", None)  # rest.BeforeCreate clears it for a cluster-scoped kind
    obj.pop("status", None)
    if kind in _OTHER_DEFAULTS:
        _OTHER_DEFAULTS[kind](obj)
    if kind == "Pod":
        default_pod(obj)
    elif kind == "Deployment":
        default_deployment(obj)
    elif kind == "Service":
        default_service(obj)
    elif kind == "StatefulSet":
        default_statefulset(obj)
    elif kind == "DaemonSet":
        default_daemonset(obj)
    elif kind == "Job":
        default_job(obj)
    elif kind == "CronJob":
        default_cronjob(obj)


def _sub(obj: Obj, key: str) -> Obj:
    """The struct at ``key``, created if absent: Go's zero struct is there to be defaulted."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def _unset_to(obj: Obj, key: str, value: Any) -> None:
    """Default a plain string field: absent, null or "" (Go's zero string) is unset."""
    if obj.get(key) in (None, ""):
        obj[key] = value


def _nil_to(obj: Obj, key: str, value: Any) -> None:
    """Default a pointer field: only absent or null is nil. A written "" stays, for validation to
    reject (``maxSurge: ""`` is an IntOrString, ``internalTrafficPolicy: ""`` a *string)."""
    if obj.get(key) is None:
        obj[key] = value


def _zero_to(obj: Obj, key: str, value: int) -> None:
    """Default a non-pointer int field, where 0 means unset."""
    if obj.get(key) in (None, 0):
        obj[key] = value


def _each(obj: Obj, key: str) -> list[Obj]:
    value = obj.get(key)
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


# --- Pod -------------------------------------------------------------------------------------


def default_pod(pod: Obj) -> None:
    spec = _sub(pod, "spec")
    # SetDefaults_Pod: only real Pods, not pod templates.
    for key in ("containers", "initContainers"):
        for ctr in _each(spec, key):
            resources = ctr.get("resources")
            if isinstance(resources, dict) and isinstance(resources.get("limits"), dict):
                requests = resources.setdefault("requests", {})
                if isinstance(requests, dict):
                    for name, limit in resources["limits"].items():
                        requests.setdefault(name, limit)
    _nil_to(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork") is True:
        for key in ("containers", "initContainers"):
            for ctr in _each(spec, key):
                for port in _each(ctr, "ports"):
                    _zero_to(port, "hostPort", port.get("containerPort") or 0)
    default_pod_spec(spec)


def default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and everything below it, for Pods and pod templates alike."""
    _unset_to(spec, "dnsPolicy", "ClusterFirst")
    _unset_to(spec, "restartPolicy", "Always")
    _nil_to(spec, "securityContext", {})
    _nil_to(spec, "terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS)
    _unset_to(spec, "schedulerName", "default-scheduler")
    for volume in _each(spec, "volumes"):
        _default_volume(volume)
    for key in _CONTAINER_LISTS:
        for ctr in _each(spec, key):
            _default_container(ctr)


def _default_volume(volume: Obj) -> None:
    sources = [k for k, v in volume.items() if k != "name" and v is not None]
    if not sources:
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict):
            _nil_to(source, "defaultMode", VOLUME_DEFAULT_MODE)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict) and host_path.get("type") is None:
        host_path["type"] = ""
    downward = volume.get("downwardAPI")
    if isinstance(downward, dict):
        _default_field_refs(_each(downward, "items"))
    projected = volume.get("projected")
    if isinstance(projected, dict):
        for source in _each(projected, "sources"):
            if isinstance(files := source.get("downwardAPI"), dict):
                _default_field_refs(_each(files, "items"))
            if isinstance(token := source.get("serviceAccountToken"), dict):
                _nil_to(token, "expirationSeconds", SERVICE_ACCOUNT_TOKEN_EXPIRATION_SECONDS)


def _default_field_refs(holders: list[Obj]) -> None:
    """SetDefaults_ObjectFieldSelector, wherever a fieldRef is (env vars, downward API files)."""
    for holder in holders:
        ref = holder.get("fieldRef")
        if isinstance(ref, dict):
            _unset_to(ref, "apiVersion", "v1")


def _default_container(ctr: Obj) -> None:
    if ctr.get("imagePullPolicy") in (None, ""):
        ctr["imagePullPolicy"] = "Always" if image_tag(ctr.get("image") or "") == "latest" else "IfNotPresent"
    _unset_to(ctr, "terminationMessagePath", TERMINATION_MESSAGE_PATH_DEFAULT)
    _unset_to(ctr, "terminationMessagePolicy", "File")
    for port in _each(ctr, "ports"):
        _unset_to(port, "protocol", "TCP")
    _default_field_refs([v["valueFrom"] for v in _each(ctr, "env") if isinstance(v.get("valueFrom"), dict)])
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = ctr.get(key)
        if isinstance(probe, dict):
            _default_probe(probe)
    lifecycle = ctr.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            handler = lifecycle.get(hook)
            if isinstance(handler, dict):
                _default_handler(handler)


def _default_probe(probe: Obj) -> None:
    _zero_to(probe, "timeoutSeconds", 1)
    _zero_to(probe, "periodSeconds", 10)
    _zero_to(probe, "successThreshold", 1)
    _zero_to(probe, "failureThreshold", 3)
    _default_handler(probe)
    grpc = probe.get("grpc")
    if isinstance(grpc, dict) and grpc.get("service") is None:
        grpc["service"] = ""


def _default_handler(handler: Obj) -> None:
    http_get = handler.get("httpGet")
    if isinstance(http_get, dict):
        _unset_to(http_get, "path", "/")
        _unset_to(http_get, "scheme", "HTTP")


# An image reference as docker's reference grammar reads it: [domain/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_DOMAIN = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*(?::(?P<tag>{_TAG}))?(?P<digest>{_DIGEST})?"
)


def image_tag(image: str) -> str:
    """The tag ``parsers.ParseImageName`` finds: ``latest`` when there is neither tag nor digest.

    A reference that does not parse has no tag (upstream ignores the parse error), so its pull
    policy defaults to IfNotPresent.
    """
    match = _REFERENCE.fullmatch(image)
    if match is None or len(image.split("@")[0]) > 255:
        return ""
    if match.group("tag"):
        return match.group("tag")
    return "" if match.group("digest") else "latest"


# --- Deployment ------------------------------------------------------------------------------


def default_deployment(deployment: Obj) -> None:
    spec = _sub(deployment, "spec")
    _nil_to(spec, "replicas", 1)
    strategy = _sub(spec, "strategy")
    _unset_to(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        _nil_to(rolling, "maxUnavailable", "25%")
        _nil_to(rolling, "maxSurge", "25%")
    _nil_to(spec, "revisionHistoryLimit", 10)
    _nil_to(spec, "progressDeadlineSeconds", 600)
    default_pod_spec(_sub(_sub(spec, "template"), "spec"))


# --- Service ---------------------------------------------------------------------------------


def default_service(service: Obj) -> None:
    spec = _sub(service, "spec")
    _unset_to(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_SERVICE_AFFINITY_SECONDS}
            }
    _unset_to(spec, "type", "ClusterIP")
    kind = spec["type"]
    for port in _each(spec, "ports"):
        _unset_to(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port") or 0
    accessible = kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(spec.get("externalIPs"))
    )
    if accessible:
        _unset_to(spec, "externalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        _nil_to(spec, "internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        _nil_to(spec, "allocateLoadBalancerNodePorts", True)
    if kind != "ExternalName":
        # The create strategy keeps clusterIPs[0] equal to clusterIP; the allocator picks families.
        cluster_ip = spec.get("clusterIP")
        if isinstance(cluster_ip, str) and cluster_ip and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [cluster_ip]
        _nil_to(spec, "ipFamilyPolicy", "SingleStack")
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv4"]


# --- StatefulSet and DaemonSet (pkg/apis/apps/v1/defaults.go) --------------------------------


def default_statefulset(statefulset: Obj) -> None:
    """SetDefaults_StatefulSet with the default feature gates of 1.34 (StatefulSetAutoDeletePVC on,
    MaxUnavailableStatefulSet off: ``maxUnavailable`` is not defaulted, the controller reads a
    missing one as 1)."""
    spec = _sub(statefulset, "spec")
    _unset_to(spec, "podManagementPolicy", "OrderedReady")
    strategy = _sub(spec, "updateStrategy")
    if strategy.get("type") in (None, ""):
        strategy["type"] = "RollingUpdate"
        _sub(strategy, "rollingUpdate")
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        _nil_to(rolling, "partition", 0)
    policy = _sub(spec, "persistentVolumeClaimRetentionPolicy")
    _unset_to(policy, "whenDeleted", "Retain")
    _unset_to(policy, "whenScaled", "Retain")
    _nil_to(spec, "replicas", 1)
    _nil_to(spec, "revisionHistoryLimit", 10)
    default_pod_spec(_sub(_sub(spec, "template"), "spec"))
    for claim in _each(spec, "volumeClaimTemplates"):
        claim_spec = _sub(claim, "spec")
        _unset_to(claim_spec, "volumeMode", "Filesystem")


def default_daemonset(daemonset: Obj) -> None:
    spec = _sub(daemonset, "spec")
    strategy = _sub(spec, "updateStrategy")
    _unset_to(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        _nil_to(rolling, "maxUnavailable", 1)
        _nil_to(rolling, "maxSurge", 0)
    _nil_to(spec, "revisionHistoryLimit", 10)
    default_pod_spec(_sub(_sub(spec, "template"), "spec"))


# --- Job and CronJob (pkg/apis/batch/v1/defaults.go) -----------------------------------------


def default_job(job: Obj) -> None:
    spec = _sub(job, "spec")
    # A non-parallel job may leave both unset: both are 1. A work queue sets parallelism only.
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _nil_to(spec, "parallelism", 1)
    _nil_to(spec, "backoffLimit", 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6)
    template = _sub(spec, "template")
    labels = _sub(template, "metadata").get("labels")
    meta = _sub(job, "metadata")
    if isinstance(labels, dict) and labels and not meta.get("labels"):
        meta["labels"] = dict(labels)
    _nil_to(spec, "completionMode", "NonIndexed")
    _nil_to(spec, "suspend", False)
    _nil_to(spec, "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed")
    default_pod_spec(_sub(template, "spec"))


def default_cronjob(cronjob: Obj) -> None:
    spec = _sub(cronjob, "spec")
    _unset_to(spec, "concurrencyPolicy", "Allow")
    _nil_to(spec, "suspend", False)
    _nil_to(spec, "successfulJobsHistoryLimit", 3)
    _nil_to(spec, "failedJobsHistoryLimit", 1)
    # SetDefaults_Job takes a Job: the template's JobSpec gets only its pod spec's defaults here,
    # and the rest when the CronJob controller creates the Job.
    job_spec = _sub(_sub(spec, "jobTemplate"), "spec")
    default_pod_spec(_sub(_sub(job_spec, "template"), "spec"))
