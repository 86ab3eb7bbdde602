"""core/v1 Node: the emulated nodes, so that pods have a nodeName, a hostIP and a scheduler."""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import K8sModel, Time
from hitless.api.types.meta import K8sObject


class NodeAddress(K8sModel):
    type: str
    address: str


class NodeCondition(K8sModel):
    type: str
    status: str
    last_heartbeat_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class NodeSystemInfo(K8sModel):
    machine_id: str = Field(default="", alias="machineID")
    system_uuid: str = Field(default="", alias="systemUUID")
    boot_id: str = Field(default="", alias="bootID")
    kernel_version: str = ""
    os_image: str = ""
    container_runtime_version: str = ""
    kubelet_version: str = ""
    kube_proxy_version: str = ""
    operating_system: str = ""
    architecture: str = ""


class NodeStatus(K8sModel):
    conditions: list[NodeCondition] | None = None
    addresses: list[NodeAddress] | None = None
    # Resource quantities by name; here only "pods" (the kubelet's maxPods).
    capacity: dict[str, str] | None = None
    allocatable: dict[str, str] | None = None
    node_info: NodeSystemInfo | None = None


class Taint(K8sModel):
    key: str
    value: str | None = None
    effect: str
    time_added: str | None = None


class NodeSpec(K8sModel):
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


class Node(K8sObject):
    api_version: str = "v1"
    kind: str = "Node"
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)

    @property
    def internal_ip(self) -> str:
        for address in self.status.addresses or []:
            if address.type == "InternalIP":
                return address.address
        return ""
