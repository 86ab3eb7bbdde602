"""What a cluster's control plane keeps in the store beside the API, for pods that call it.

- the system namespaces (pkg/controlplane/controller/systemnamespaces);
- the bootstrap RBAC policy a client's discovery needs (plugin/pkg/auth/authorizer/rbac/
  bootstrappolicy/policy.go: ``cluster-admin``, ``system:discovery``, ``system:basic-user``,
  ``system:public-info-viewer`` and their ClusterRoleBindings), as kube-apiserver's
  rbac/bootstrap-roles post-start hook reconciles them;
- the ``kubernetes`` Service in ``default`` with its Endpoints and EndpointSlice pointing at this
  API server (pkg/controlplane/controller/kubernetesservice and reconcilers/endpointsadapter.go);
- in every namespace the ``default`` ServiceAccount (kube-controller-manager's serviceaccount
  controller) and the ``kube-root-ca.crt`` ConfigMap with the run's CA (its rootcacertpublisher),
  kept while the run lasts: a namespace made later gets both, and a deleted one comes back.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from hitless.api.types.meta import K8sObject
from hitless.apiserver import kinds, writes
from hitless.store.store import AlreadyExists, NotFound, Store, WatchEvent

Json = dict[str, Any]
# pkg/controlplane/controller/systemnamespaces: kube-apiserver makes these and keeps them.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
DEFAULT_SERVICE_ACCOUNT = "default"
MASTER_SERVICE = "kubernetes"
_RBAC = "rbac.authorization.k8s.io"
_BOOTSTRAP_META: Json = {
    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
}


def _cluster_role(name: str, rules: list[Json]) -> Json:
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, **_BOOTSTRAP_META},
        "rules": rules,
    }


def _cluster_binding(name: str, *groups: str) -> Json:
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, **_BOOTSTRAP_META},
        "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": _RBAC, "kind": "Group", "name": g} for g in groups],
    }


# bootstrappolicy/policy.go ClusterRoles() and ClusterRoleBindings(): the part a client needs to
# discover the API and ask what it may do. The aggregated admin/edit/view roles are not made.
BOOTSTRAP_POLICY: list[Json] = [
    _cluster_role(
        "cluster-admin",
        [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    ),
    _cluster_role(
        "system:discovery",
        [
            {
                "nonResourceURLs": [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                "verbs": ["get"],
            }
        ],
    ),
    _cluster_role(
        "system:basic-user",
        [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            },
            {
                "apiGroups": ["authentication.k8s.io"],
                "resources": ["selfsubjectreviews"],
                "verbs": ["create"],
            },
        ],
    ),
    _cluster_role(
        "system:public-info-viewer",
        [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
    ),
    _cluster_binding("cluster-admin", "system:masters"),
    _cluster_binding("system:discovery", "system:authenticated"),
    _cluster_binding("system:basic-user", "system:authenticated"),
    _cluster_binding("system:public-info-viewer", "system:authenticated", "system:unauthenticated"),
]


class ControlPlane:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.ca_pem = ""

    def _create(self, data: Json) -> K8sObject | None:
        resource = kinds.by_kind(data["kind"])
        assert resource is not None, data["kind"]
        obj = writes.decode(resource, data)
        with contextlib.suppress(AlreadyExists):
            return self.store.create(obj)
        return None

    def _missing(self, kind: str, namespace: str, name: str) -> bool:
        return self.store.get(kind, namespace, name) is None

    def ensure_namespaces(self) -> None:
        for name in SYSTEM_NAMESPACES:
            if self._missing("Namespace", "", name):
                self._create(
                    {
                        "apiVersion": "v1",
                        "kind": "Namespace",
                        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                        "spec": {"finalizers": ["kubernetes"]},
                        "status": {"phase": "Active"},
                    }
                )

    def ensure_policy(self) -> None:
        for data in BOOTSTRAP_POLICY:
            if self._missing(data["kind"], "", data["metadata"]["name"]):
                self._create(data)

    def ensure_master_service(self, port: int) -> str:
        """The ``kubernetes`` Service (ClusterIP, 443 → the API server's port); its cluster IP.

        Upstream takes the first address of the service range; here the allocator picks one as
        for any Service, so that two runs on one machine do not both hold it on the host."""
        service = self.store.get("Service", "default", MASTER_SERVICE)
        if service is None:
            service = self._create(
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {
                        "name": MASTER_SERVICE,
                        "namespace": "default",
                        "labels": {"component": "apiserver", "provider": "kubernetes"},
                    },
                    "spec": {
                        "type": "ClusterIP",
                        "sessionAffinity": "None",
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
                    },
                }
            )
            assert service is not None
        return str(service.to_json()["spec"]["clusterIP"])

    def ensure_master_endpoints(self, address: str, port: int) -> None:
        """reconcilers/endpointsadapter.go: the Endpoints and the EndpointSlice of ``kubernetes``."""
        family = "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"
        for kind in ("Endpoints", "EndpointSlice"):
            with contextlib.suppress(NotFound):
                self.store.delete(kind, "default", MASTER_SERVICE)
        self._create(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {
                    "name": MASTER_SERVICE,
                    "namespace": "default",
                    "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
                },
                "subsets": [
                    {
                        "addresses": [{"ip": address}],
                        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
                    }
                ],
            }
        )
        self._create(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": MASTER_SERVICE,
                    "namespace": "default",
                    "labels": {"kubernetes.io/service-name": MASTER_SERVICE},
                },
                "addressType": family,
                "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
            }
        )

    def ensure_namespace_content(self, namespace: str) -> None:
        """The serviceaccount controller's ``default`` and the rootcacertpublisher's ConfigMap."""
        ns = self.store.get("Namespace", "", namespace)
        if ns is None or ns.metadata.deletion_timestamp is not None:
            return
        if self._missing("ServiceAccount", namespace, DEFAULT_SERVICE_ACCOUNT):
            self._create(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": namespace},
                }
            )
        if self.ca_pem and self._missing("ConfigMap", namespace, ROOT_CA_CONFIG_MAP):
            self._create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": ROOT_CA_CONFIG_MAP,
                        "namespace": namespace,
                        "annotations": {"kubernetes.io/description": _CA_DESCRIPTION},
                    },
                    "data": {"ca.crt": self.ca_pem},
                }
            )

    def ensure_all_namespaces(self) -> None:
        for ns in self.store.objects("Namespace"):
            self.ensure_namespace_content(ns.name)

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if obj.kind == "Namespace" and event.type != "DELETED":
            self.ensure_namespace_content(obj.name)
        elif event.type == "DELETED" and (
            (obj.kind == "ServiceAccount" and obj.name == DEFAULT_SERVICE_ACCOUNT)
            or (obj.kind == "ConfigMap" and obj.name == ROOT_CA_CONFIG_MAP)
        ):
            self.ensure_namespace_content(obj.namespace)

    async def run(self) -> None:
        await self.store.list_and_watch(
            ["Namespace", "ServiceAccount", "ConfigMap"],
            self.handle,
            initial=False,
            relisted=self.ensure_all_namespaces,
        )


# rootcacertpublisher's DescriptionAnnotation value.
_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)
