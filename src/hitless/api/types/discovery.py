"""discovery.k8s.io/v1 EndpointSlice, fields in the order of ``k8s.io/api/discovery/v1/types.go``.

``endpoints`` and ``ports`` have no ``omitempty`` upstream, but hitless leaves nulls out
everywhere (docs/jsonl.md), so an empty slice shows ``"endpoints": []`` as the controller writes it.
"""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import K8sModel
from hitless.api.types.meta import K8sObject, ObjectReference

LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"


class EndpointConditions(K8sModel):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class Endpoint(K8sModel):
    addresses: list[str]
    conditions: EndpointConditions = Field(default_factory=EndpointConditions)
    hostname: str | None = None
    target_ref: ObjectReference | None = None
    node_name: str | None = None
    zone: str | None = None

    # kube-proxy's reading of the conditions (pkg/proxy/endpointslicecache.go): nil ready and
    # serving mean true, nil terminating means false.
    @property
    def is_ready(self) -> bool:
        return self.conditions.ready is not False

    @property
    def is_serving(self) -> bool:
        return self.conditions.serving is not False

    @property
    def is_terminating(self) -> bool:
        return self.conditions.terminating is True


class EndpointPort(K8sModel):
    name: str | None = None
    protocol: str | None = None
    port: int | None = None
    app_protocol: str | None = None


class EndpointSlice(K8sObject):
    api_version: str = "discovery.k8s.io/v1"
    kind: str = "EndpointSlice"
    address_type: str = "IPv4"
    endpoints: list[Endpoint] = Field(default_factory=list)
    ports: list[EndpointPort] = Field(default_factory=list)

    @property
    def service_name(self) -> str | None:
        return (self.metadata.labels or {}).get(LABEL_SERVICE_NAME)
