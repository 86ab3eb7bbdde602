"""core/v1 Pod, with the fields hitless acts on typed; everything else is kept verbatim.

Field order follows the Go structs in ``k8s.io/api/core/v1/types.go`` so that JSON comes out in
the order the API server writes it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from hitless.api.types.base import IntOrString, K8sModel, Time
from hitless.api.types.meta import K8sObject, ObjectMeta

# --- handlers -------------------------------------------------------------------------------


class ExecAction(K8sModel):
    command: list[str] | None = None


class HTTPHeader(K8sModel):
    name: str
    value: str = ""  # Go has no omitempty here: a header written without a value is sent empty


class HTTPGetAction(K8sModel):
    path: str | None = None
    port: IntOrString
    host: str | None = None
    scheme: str | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPSocketAction(K8sModel):
    port: IntOrString
    host: str | None = None


class GRPCAction(K8sModel):
    port: int
    service: str | None = None


class SleepAction(K8sModel):
    # Marked required in the OpenAPI schema, but the API server decodes an absent one as 0, which
    # validation accepts (PodLifecycleSleepActionAllowZero).
    seconds: int = 0


class Probe(K8sModel):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initial_delay_seconds: int | None = None
    timeout_seconds: int | None = None
    period_seconds: int | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None
    termination_grace_period_seconds: int | None = None


class LifecycleHandler(K8sModel):
    exec: ExecAction | None = None
    http_get: HTTPGetAction | None = None
    tcp_socket: TCPSocketAction | None = None
    sleep: SleepAction | None = None


class Lifecycle(K8sModel):
    post_start: LifecycleHandler | None = None
    pre_stop: LifecycleHandler | None = None
    stop_signal: str | None = None


# --- container ------------------------------------------------------------------------------


class ContainerPort(K8sModel):
    name: str | None = None
    host_port: int | None = None
    container_port: int
    protocol: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")


class ObjectFieldSelector(K8sModel):
    api_version: str | None = None
    field_path: str


class EnvVarSource(K8sModel):
    field_ref: ObjectFieldSelector | None = None


class EnvVar(K8sModel):
    name: str
    value: str | None = None
    value_from: EnvVarSource | None = None


class Container(K8sModel):
    name: str
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    ports: list[ContainerPort] | None = None
    env: list[EnvVar] | None = None
    # Only for init containers: "Always" makes a sidecar (restartable init container).
    restart_policy: str | None = None
    liveness_probe: Probe | None = None
    readiness_probe: Probe | None = None
    startup_probe: Probe | None = None
    lifecycle: Lifecycle | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None
    image_pull_policy: str | None = None

    def port_by_name(self, name: str) -> int | None:
        for port in self.ports or []:
            if port.name == name:
                return port.container_port
        return None


class PodReadinessGate(K8sModel):
    condition_type: str


class PodDNSConfigOption(K8sModel):
    name: str | None = None
    value: str | None = None


class PodDNSConfig(K8sModel):
    nameservers: list[str] | None = None
    searches: list[str] | None = None
    options: list[PodDNSConfigOption] | None = None


class PodSpec(K8sModel):
    init_containers: list[Container] | None = None
    containers: list[Container]
    restart_policy: str | None = None
    termination_grace_period_seconds: int | None = None
    active_deadline_seconds: int | None = None
    node_selector: dict[str, str] | None = None
    node_name: str | None = None
    share_process_namespace: bool | None = None
    hostname: str | None = None
    subdomain: str | None = None
    readiness_gates: list[PodReadinessGate] | None = None
    # The kubelet's resolv.conf (kubelet/dns.py).
    dns_policy: str | None = None
    dns_config: PodDNSConfig | None = None
    host_network: bool | None = None

    def sidecars(self) -> list[Container]:
        return [c for c in self.init_containers or [] if c.restart_policy == "Always"]

    def container(self, name: str) -> Container | None:
        for c in [*(self.init_containers or []), *self.containers]:
            if c.name == name:
                return c
        return None


class PodTemplateSpec(K8sModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec


# --- status ---------------------------------------------------------------------------------


class ContainerStateWaiting(K8sModel):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(K8sModel):
    started_at: Time | None = None


class ContainerStateTerminated(K8sModel):
    exit_code: int
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    started_at: Time | None = None
    finished_at: Time | None = None
    container_id: str | None = Field(default=None, alias="containerID")


class ContainerState(K8sModel):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class LinuxContainerUser(K8sModel):
    uid: int
    gid: int
    supplemental_groups: list[int] | None = None


class ContainerUser(K8sModel):
    """The user the runtime started the container's process as (KEP-3619, the kubelet reports it
    when the runtime does)."""

    linux: LinuxContainerUser | None = None


class ContainerStatus(K8sModel):
    name: str
    state: ContainerState = Field(default_factory=ContainerState)
    last_state: ContainerState = Field(default_factory=ContainerState)
    ready: bool = False
    restart_count: int = 0
    image: str = ""
    image_id: str = Field(default="", alias="imageID")
    container_id: str | None = Field(default=None, alias="containerID")
    started: bool | None = None
    user: ContainerUser | None = None


ConditionStatus = Literal["True", "False", "Unknown"]


class PodCondition(K8sModel):
    type: str
    status: ConditionStatus
    last_probe_time: Time | None = None
    last_transition_time: Time | None = None
    reason: str | None = None
    message: str | None = None


class PodIP(K8sModel):
    ip: str


class HostIP(K8sModel):
    ip: str


class PodStatus(K8sModel):
    phase: str | None = None
    conditions: list[PodCondition] | None = None
    message: str | None = None
    reason: str | None = None
    host_ip: str | None = Field(default=None, alias="hostIP")
    host_ips: list[HostIP] | None = Field(default=None, alias="hostIPs")
    pod_ip: str | None = Field(default=None, alias="podIP")
    pod_ips: list[PodIP] | None = Field(default=None, alias="podIPs")
    start_time: Time | None = None
    init_container_statuses: list[ContainerStatus] | None = None
    container_statuses: list[ContainerStatus] | None = None
    qos_class: str | None = None

    def condition(self, type_: str) -> PodCondition | None:
        for c in self.conditions or []:
            if c.type == type_:
                return c
        return None


class Pod(K8sObject):
    api_version: str = "v1"
    kind: str = "Pod"
    spec: PodSpec
    status: PodStatus = Field(default_factory=PodStatus)

    def is_ready(self) -> bool:
        cond = self.status.condition("Ready")
        return cond is not None and cond.status == "True"
