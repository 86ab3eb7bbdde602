"""The kind registry: every kind and version the API server serves, and what hitless does with it.

One table, :data:`BUILTIN`, is the answer to "what happens to a ``kind: X`` in ``apiVersion: Y``":

* ``emulated``: hitless acts on it (runs its pods, routes its traffic, honours it in evictions,
  creates the namespace, hands its data to the kubelet). It has a typed model and, where the API
  server has one, its validation ported (``validation/``).
* ``stored``: decoded strictly against its upstream schema, its metadata validated, defaulted where
  hitless relies on a default, and kept in the store as a :class:`GenericObject` that serializes
  to the same JSON. ``hitless up`` names it "stored, not emulated".
* ``refused``: a kind the API server knows but ``kubectl apply`` cannot create (a review, a
  subresource's body); the error is the one kubectl would print.

A kind or version that is not here (``kind: service``, ``apps/v1beta1``, an alpha API that a
default cluster does not serve) is refused as kubectl refuses it: ``no matches for kind``; a custom
resource is accepted once its CustomResourceDefinition is in the input (``loader``, ``crd``).

The set of kinds is the 1.34 schema set's (``x-kubernetes-group-version-kind`` of the top-level
definitions); tests/api/test_kinds.py holds this table to it. Scope and resource names are those
of ``kubectl api-resources`` on a 1.34 cluster. Versions: GA versions are served; every beta and
alpha API in 1.34 is off by default (KEP-3136: new beta APIs are off by default since 1.24), so a
default cluster answers "no matches" for them, and so does hitless.

Adding a kind that hitless acts on: give it a typed model, add its row here as ``emulated`` (and
its validator to ``validation/__init__.py``, its defaults to ``defaults.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

from hitless.api.gofmt import quote
from hitless.api.types.apps import Deployment
from hitless.api.types.config import ConfigMap, Secret
from hitless.api.types.daemonset import DaemonSet
from hitless.api.types.generic import GenericObject
from hitless.api.types.job import CronJob, Job
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.api.types.policy import PodDisruptionBudget
from hitless.api.types.service import Service
from hitless.api.types.statefulset import StatefulSet

Handling = Literal["emulated", "stored", "refused"]


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    namespaced: bool
    handling: Handling
    model: type[K8sObject] = GenericObject
    # emulated: what hitless does with it; refused: why kubectl cannot apply it.
    note: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``GroupKind.String()``: ``Deployment.apps``, ``Pod``; how the API server names the kind."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


# hitless's words: a review is a request the API server answers (create) and never stores, so
# there is no live object for ``kubectl apply`` to compare with.
_NOT_APPLIABLE = "a request the API server answers and does not store: it cannot be applied"
_NS, _CLUSTER = True, False


def _e(group: str, version: str, kind: str, namespaced: bool, model: type[K8sObject], note: str) -> Kind:
    return Kind(group, version, kind, namespaced, "emulated", model, note)


def _s(group: str, version: str, kind: str, namespaced: bool) -> Kind:
    return Kind(group, version, kind, namespaced, "stored")


def _r(group: str, version: str, kind: str, namespaced: bool, note: str = _NOT_APPLIABLE) -> Kind:
    return Kind(group, version, kind, namespaced, "refused", GenericObject, note)


BUILTIN: tuple[Kind, ...] = (
    # --- acted on ------------------------------------------------------------------------------
    _e("", "v1", "Pod", _NS, Pod, "run by the kubelets"),
    _e("apps", "v1", "Deployment", _NS, Deployment, "rolled out by the Deployment controller"),
    _e("", "v1", "Service", _NS, Service, "cluster IP, node ports, EndpointSlices, every node's proxy"),
    _e("", "v1", "ConfigMap", _NS, ConfigMap, "validated; read by the kubelet for env and volumes"),
    _e("", "v1", "Secret", _NS, Secret, "validated; read by the kubelet for env and volumes"),
    _e("", "v1", "Namespace", _CLUSTER, GenericObject, "creates the namespace its objects need"),
    _e(
        "policy",
        "v1",
        "PodDisruptionBudget",
        _NS,
        PodDisruptionBudget,
        "status by the disruption controller; honoured by evictions (node-drain)",
    ),
    _e(
        "apps",
        "v1",
        "StatefulSet",
        _NS,
        StatefulSet,
        "rolled out in ordinal order by its controller",
    ),
    _e("apps", "v1", "DaemonSet", _NS, DaemonSet, "one pod per node, rolled out by the DaemonSet controller"),
    _e("batch", "v1", "Job", _NS, Job, "run to completion by the Job controller"),
    _e("batch", "v1", "CronJob", _NS, CronJob, "Jobs created on schedule by the CronJob controller"),
    _e(
        "",
        "v1",
        "PersistentVolumeClaim",
        _NS,
        GenericObject,
        "bound to a local directory when a pod uses it (local-path provisioner), mounted by the kubelet",
    ),
    # --- stored, not emulated ----------------------------------------------------------------
    _s("", "v1", "Endpoints", _NS),
    _s("", "v1", "Event", _NS),
    _s("", "v1", "LimitRange", _NS),
    _s("", "v1", "PersistentVolume", _CLUSTER),
    _s("", "v1", "PodTemplate", _NS),
    _s("", "v1", "ReplicationController", _NS),
    _s("", "v1", "ResourceQuota", _NS),
    _s("", "v1", "ServiceAccount", _NS),
    _s("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", _CLUSTER),
    _s("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", _CLUSTER),
    _s("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", _CLUSTER),
    _s("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding", _CLUSTER),
    _s("apiextensions.k8s.io", "v1", "CustomResourceDefinition", _CLUSTER),
    _s("apiregistration.k8s.io", "v1", "APIService", _CLUSTER),
    _s("apps", "v1", "ControllerRevision", _NS),
    _s("apps", "v1", "ReplicaSet", _NS),
    _s("autoscaling", "v1", "HorizontalPodAutoscaler", _NS),
    _s("autoscaling", "v2", "HorizontalPodAutoscaler", _NS),
    _s("certificates.k8s.io", "v1", "CertificateSigningRequest", _CLUSTER),
    _s("coordination.k8s.io", "v1", "Lease", _NS),
    _s("discovery.k8s.io", "v1", "EndpointSlice", _NS),
    _s("events.k8s.io", "v1", "Event", _NS),
    _s("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", _CLUSTER),
    _s("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration", _CLUSTER),
    _s("networking.k8s.io", "v1", "IPAddress", _CLUSTER),
    _s("networking.k8s.io", "v1", "Ingress", _NS),
    _s("networking.k8s.io", "v1", "IngressClass", _CLUSTER),
    _s("networking.k8s.io", "v1", "NetworkPolicy", _NS),
    _s("networking.k8s.io", "v1", "ServiceCIDR", _CLUSTER),
    _s("node.k8s.io", "v1", "RuntimeClass", _CLUSTER),
    _s("rbac.authorization.k8s.io", "v1", "ClusterRole", _CLUSTER),
    _s("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", _CLUSTER),
    _s("rbac.authorization.k8s.io", "v1", "Role", _NS),
    _s("rbac.authorization.k8s.io", "v1", "RoleBinding", _NS),
    _s("resource.k8s.io", "v1", "DeviceClass", _CLUSTER),
    _s("resource.k8s.io", "v1", "ResourceClaim", _NS),
    _s("resource.k8s.io", "v1", "ResourceClaimTemplate", _NS),
    _s("resource.k8s.io", "v1", "ResourceSlice", _CLUSTER),
    _s("scheduling.k8s.io", "v1", "PriorityClass", _CLUSTER),
    _s("storage.k8s.io", "v1", "CSIDriver", _CLUSTER),
    _s("storage.k8s.io", "v1", "CSINode", _CLUSTER),
    _s("storage.k8s.io", "v1", "CSIStorageCapacity", _NS),
    _s("storage.k8s.io", "v1", "StorageClass", _CLUSTER),
    _s("storage.k8s.io", "v1", "VolumeAttachment", _CLUSTER),
    _s("storage.k8s.io", "v1", "VolumeAttributesClass", _CLUSTER),
    # --- refused: served, but not something kubectl apply can create --------------------------
    # hitless's nodes are its own (--nodes); a Node in the input would be a node without a kubelet.
    _r("", "v1", "Node", _CLUSTER, "hitless emulates its own nodes (--nodes); a Node cannot be applied"),
    _r("", "v1", "Binding", _NS),
    _r("", "v1", "ComponentStatus", _CLUSTER),
    _r("authentication.k8s.io", "v1", "SelfSubjectReview", _CLUSTER),
    _r("authentication.k8s.io", "v1", "TokenReview", _CLUSTER),
    _r("authorization.k8s.io", "v1", "LocalSubjectAccessReview", _NS),
    _r("authorization.k8s.io", "v1", "SelfSubjectAccessReview", _CLUSTER),
    _r("authorization.k8s.io", "v1", "SelfSubjectRulesReview", _CLUSTER),
    _r("authorization.k8s.io", "v1", "SubjectAccessReview", _CLUSTER),
)

# Kinds of the schema set that no resource serves on its own: bodies of subresources and of
# responses (pods/eviction, */scale, serviceaccounts/token, Status). kubectl finds no mapping.
SUBRESOURCE_BODIES = {("policy", "v1", "Eviction"), ("autoscaling", "v1", "Scale"),
                      ("authentication.k8s.io", "v1", "TokenRequest"), ("", "v1", "Status")}  # fmt: skip

# Namespaces every cluster has.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


@cache
def _index() -> dict[tuple[str, str], Kind]:
    return {(k.api_version, k.kind): k for k in BUILTIN}


@cache
def _scopes() -> dict[str, bool]:
    # A kind has one scope whatever its group (Event and events.k8s.io Event are both namespaced).
    return {k.kind: k.namespaced for k in BUILTIN}


def lookup(api_version: str, kind: str) -> Kind | None:
    return _index().get((api_version, kind))


def is_namespaced(kind: str) -> bool:
    """The scope of a built-in kind; an unknown kind (a custom resource) is taken as namespaced,
    which its object overrides from its CustomResourceDefinition."""
    return _scopes().get(kind, True)


def typed() -> dict[tuple[str, str], type[K8sObject]]:
    """The kinds with a model of their own, by (apiVersion, kind)."""
    return {(k.api_version, k.kind): k.model for k in BUILTIN if k.model is not GenericObject}


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` → (``apps``, ``v1``); ``v1`` → (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def refused_message(info: Kind, name: str, namespace: str, file: str) -> str:
    return f"{info.kind} {name!r} ({info.api_version}): {info.note}"


def no_match_message(api_version: str, kind: str, name: str, namespace: str, file: str) -> str:
    """kubectl's words when no resource serves the kind in that version (cli-runtime's
    resource/mapper.go infoForData, apimachinery's meta.NoKindMatchError)."""
    return (
        f"resource mapping not found for name: {quote(name)} namespace: {quote(namespace)} from "
        f"{quote(file)}: no matches for kind {quote(kind)} in version {quote(api_version)}\n"
        "ensure CRDs are installed first"
    )
