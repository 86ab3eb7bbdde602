"""What a cluster's control plane keeps in the store beside the API, for pods that call it.

- the system namespaces (pkg/controlplane/controller/systemnamespaces);
- the bootstrap RBAC policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go:
  ``cluster-admin``, ``system:discovery``, ``system:basic-user``, ``system:public-info-viewer``
  and their ClusterRoleBindings, which clients' discovery needs; ``admin``, ``edit``, ``view``
  and the ``system:aggregate-to-*`` roles they gather), as kube-apiserver's rbac/bootstrap-roles
  post-start hook makes them, and the rules of every ClusterRole with an ``aggregationRule``
  (kube-controller-manager's clusterrole-aggregation controller);
- the ``kubernetes`` Service in ``default`` with its Endpoints and EndpointSlice pointing at this
  API server (pkg/controlplane/controller/kubernetesservice and reconcilers/endpointsadapter.go);
- in every namespace the ``default`` ServiceAccount (kube-controller-manager's serviceaccount
  controller) and the ``kube-root-ca.crt`` ConfigMap with the run's CA (its rootcacertpublisher),
  kept while the run lasts: a namespace made later gets both, a deleted one comes back and an
  edited bundle is put back.
"""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

from hitless.api.types.meta import K8sObject, LabelSelector
from hitless.apiserver import kinds, writes
from hitless.apiserver.bootstrappolicy import BOOTSTRAP_POLICY
from hitless.store.store import AlreadyExists, NotFound, Store, WatchEvent

Json = dict[str, Any]
# pkg/controlplane/controller/systemnamespaces: kube-apiserver makes these and keeps them.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
DEFAULT_SERVICE_ACCOUNT = "default"
MASTER_SERVICE = "kubernetes"


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
        self.aggregate()

    def aggregate(self) -> None:
        """pkg/controller/clusterroleaggregation syncClusterRole, for every ClusterRole with an
        aggregationRule: its rules are those of the ClusterRoles its selectors match (by name,
        each rule once), until nothing changes (``edit`` gathers ``view``, ``admin`` gathers
        ``edit``)."""
        for _ in range(8):
            changed = False
            roles = sorted(self.store.objects("ClusterRole"), key=lambda r: r.name)
            datas = [(role, role.to_json()) for role in roles]
            for role, data in datas:
                selectors = (data.get("aggregationRule") or {}).get("clusterRoleSelectors")
                if selectors is None:
                    continue
                rules: list[Json] = []
                for selector in selectors:
                    match = LabelSelector.model_validate(selector or {})
                    for other, other_data in datas:
                        if other.name == role.name or not match.matches(other.metadata.labels):
                            continue
                        rules.extend(r for r in other_data.get("rules") or [] if r not in rules)
                if rules == (data.get("rules") or []):
                    continue
                data["rules"] = rules
                resource = kinds.by_kind("ClusterRole")
                assert resource is not None
                with contextlib.suppress(NotFound):
                    self.store.update(writes.decode(resource, data))
                changed = True
            if not changed:
                return

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
        if not self.ca_pem:
            return
        live = self.store.get("ConfigMap", namespace, ROOT_CA_CONFIG_MAP)
        if live is None:
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
            return
        data = live.to_json()
        if data.get("data") != {"ca.crt": self.ca_pem}:
            # rootcacertpublisher syncNamespace: an edited bundle is put back.
            data["data"] = {"ca.crt": self.ca_pem}
            data.pop("binaryData", None)
            resource = kinds.by_kind("ConfigMap")
            assert resource is not None
            with contextlib.suppress(NotFound):
                self.store.update(writes.decode(resource, data))

    def ensure_all_namespaces(self) -> None:
        for ns in self.store.objects("Namespace"):
            self.ensure_namespace_content(ns.name)

    def handle(self, event: WatchEvent) -> None:
        obj = event.object
        if obj.kind == "Namespace" and event.type != "DELETED":
            self.ensure_namespace_content(obj.name)
        elif obj.kind == "ClusterRole":
            # Its own writes come back here too, and change nothing more.
            self.aggregate()
        elif (obj.kind == "ConfigMap" and obj.name == ROOT_CA_CONFIG_MAP) or (
            event.type == "DELETED" and obj.kind == "ServiceAccount" and obj.name == DEFAULT_SERVICE_ACCOUNT
        ):
            self.ensure_namespace_content(obj.namespace)

    def resync(self) -> None:
        self.ensure_all_namespaces()
        self.aggregate()

    async def run(self) -> None:
        await self.store.list_and_watch(
            ["Namespace", "ServiceAccount", "ConfigMap", "ClusterRole"],
            self.handle,
            initial=False,
            relisted=self.resync,
        )


# rootcacertpublisher's DescriptionAnnotation value.
_CA_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)
