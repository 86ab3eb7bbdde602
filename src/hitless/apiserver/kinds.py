"""The kind table: every resource the API server serves, one entry each.

Discovery, OpenAPI, the REST paths, Table output and decoding all read this one table, so a kind
the store holds is served by adding its row here (or with :func:`register` from the module that
adds the kind). ``cls`` is the typed class the store keeps for the kind; ``None`` keeps the object
generically (``K8sObject`` with every field verbatim). Short names and categories are the ones
kube-apiserver's discovery advertises (pkg/registry/*/storage: ShortNames(), Categories()).
"""

from __future__ import annotations

from dataclasses import dataclass

from hitless.api.types.apps import Deployment, ReplicaSet
from hitless.api.types.config import ConfigMap, Secret
from hitless.api.types.discovery import EndpointSlice
from hitless.api.types.event import Event
from hitless.api.types.meta import K8sObject
from hitless.api.types.node import Node
from hitless.api.types.pod import Pod
from hitless.api.types.service import Service

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    cls: type[K8sObject] | None = None
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = VERBS

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """``deployments.apps``, ``pods``: how the API server names the resource in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """``Deployment.apps``, ``Pod``: GroupKind.String(), as in "... is invalid"."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def store_namespace(self, namespace: str | None) -> str:
        # The store keys cluster-scoped objects under namespace "" (K8sObject.namespace).
        return (namespace or "default") if self.namespaced else ""


_POD_SUBRESOURCES = ("status", "log", "eviction", "binding", "proxy")
_TABLE: list[Resource] = [
    Resource("", "v1", "pods", "Pod", True, Pod, ("po",), ("all",), _POD_SUBRESOURCES),
    Resource("", "v1", "services", "Service", True, Service, ("svc",), ("all",), ("status",)),
    Resource("", "v1", "events", "Event", True, Event, ("ev",)),
    Resource("", "v1", "nodes", "Node", False, Node, ("no",), (), ("status",)),
    Resource("", "v1", "namespaces", "Namespace", False, None, ("ns",), (), ("status",)),
    Resource("", "v1", "configmaps", "ConfigMap", True, ConfigMap, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True, Secret),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True, None, ("sa",), (), ("token",)),
    Resource("", "v1", "endpoints", "Endpoints", True, None, ("ep",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, None, ("pvc",)),
    Resource("", "v1", "limitranges", "LimitRange", True, None, ("limits",)),
    Resource("", "v1", "resourcequotas", "ResourceQuota", True, None, ("quota",)),
    Resource(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        Deployment,
        ("deploy",),
        ("all",),
        ("status", "scale"),
    ),
    Resource(
        "apps", "v1", "replicasets", "ReplicaSet", True, ReplicaSet, ("rs",), ("all",), ("status", "scale")
    ),
    Resource(
        "apps", "v1", "statefulsets", "StatefulSet", True, None, ("sts",), ("all",), ("status", "scale")
    ),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, None, ("ds",), ("all",), ("status",)),
    Resource("apps", "v1", "controllerrevisions", "ControllerRevision", True, None),
    Resource("batch", "v1", "jobs", "Job", True, None, (), ("all",), ("status",)),
    Resource("batch", "v1", "cronjobs", "CronJob", True, None, ("cj",), ("all",), ("status",)),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, EndpointSlice),
    Resource(
        "policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, None, ("pdb",), (), ("status",)
    ),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress", True, None, ("ing",), (), ("status",)),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, None, ("netpol",)),
    Resource(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        None,
        ("hpa",),
        ("all",),
        ("status",),
    ),
    Resource("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, None, ("pc",)),
    # Leader election's lock (client-go's leaderelection LeaseLock): operators in pods take it.
    Resource("coordination.k8s.io", "v1", "leases", "Lease", True, None),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, None),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, None),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, None),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True, None),
    # Answered for the requesting user, never stored (apiserver/reviews.py: `kubectl auth can-i`,
    # `can-i --list`, `whoami`).
    Resource(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        verbs=("create",),
    ),
    Resource(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        False,
        verbs=("create",),
    ),
    Resource(
        "authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=("create",)
    ),
    # Delegated authentication and authorization (reviews.py).
    Resource("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, verbs=("create",)),
    Resource(
        "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=("create",)
    ),
    Resource(
        "authorization.k8s.io",
        "v1",
        "localsubjectaccessreviews",
        "LocalSubjectAccessReview",
        True,
        verbs=("create",),
    ),
]
_BY_PATH: dict[tuple[str, str, str], Resource] = {}
_BY_KIND: dict[str, Resource] = {}


def register(resource: Resource) -> None:
    """Serve a kind (or replace its row, e.g. to give it a typed class)."""
    global _TABLE
    _TABLE = [r for r in _TABLE if r.kind != resource.kind] + [resource]
    _index()


def _index() -> None:
    _BY_PATH.clear()
    _BY_KIND.clear()
    for r in _TABLE:
        _BY_PATH[(r.group, r.version, r.plural)] = r
        _BY_KIND[r.kind] = r


_index()


def resources() -> list[Resource]:
    return list(_TABLE)


def by_path(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_kind(kind: str) -> Resource | None:
    return _BY_KIND.get(kind)


def group_versions() -> dict[str, list[str]]:
    """Group -> its versions, in table order (the core group is "")."""
    out: dict[str, list[str]] = {}
    for r in _TABLE:
        versions = out.setdefault(r.group, [])
        if r.version not in versions:
            versions.append(r.version)
    return out
