"""A CRI-like container runtime interface.

The kubelet talks to the runtime only through :class:`RuntimeService`, as the real kubelet talks
to containerd through the CRI: sandboxes (the pod's network namespace, held by a pause-like
process), containers (a process that is PID 1 of its own PID namespace inside the sandbox),
stop with a signal and a timeout, exec, status. The runtime knows nothing of probes, hooks,
restart policies or Services; those are the kubelet's.

Implementations: ``hitless.runtime.linux`` (real processes and namespaces) and
``hitless.runtime.fake`` (scripted, for logic tests on a fake clock).
"""

from __future__ import annotations

import asyncio
import enum
import signal
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol


class RuntimeError_(Exception):
    """A runtime call failed for a reason that is not the workload's (e.g. namespaces unavailable)."""


class StartError(Exception):
    """The container could not be started (``executable file not found``, ...).

    The kubelet reports it as the runtime does: ``terminated`` with exit code 128 and reason
    ``StartError``, then ``waiting`` with reason ``RunContainerError``.
    """


class SandboxState(enum.Enum):
    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(enum.Enum):
    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


@dataclass(frozen=True)
class PodSandboxConfig:
    name: str
    namespace: str
    uid: str
    hostname: str
    # Directory under which this pod's container logs go: <log_directory>/<container>/<attempt>.log
    log_directory: Path
    # The kubelet's /etc/hosts extras (pkg/kubelet/kubelet_pods.go): the pod's domain when it
    # has a subdomain (<subdomain>.<namespace>.svc.cluster.local), and spec.hostAliases as
    # (ip, hostnames) pairs.
    host_domain: str | None = None
    host_aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass
class PodSandboxStatus:
    id: str
    state: SandboxState
    # The pod's address: unique per sandbox, in 127.0.0.0/8, reachable only inside the sandbox's
    # network namespace (where all of 127.0.0.0/8 is local once loopback is up).
    ip: str
    created_at: datetime


@dataclass(frozen=True)
class Mount:
    """CRI's Mount: a host path the runtime bind-mounts at ``container_path`` in the container.

    The kubelet's volume manager prepares ``host_path`` (a volume's directory, a file of it for a
    ``subPath``); the runtime only mounts it, in the container's own mount namespace, so nothing
    is visible to the host or to other containers.
    """

    container_path: str
    host_path: str
    readonly: bool = False
    # "private" (the default), "rslave" (HostToContainer) or "rshared" (Bidirectional).
    propagation: str = "private"


@dataclass(frozen=True)
class Redirect:
    """A NAT rule in a sandbox's network namespace, as a CNI plugin installs one: traffic the pod
    sends to ``destination`` (an address or a CIDR) and ``port`` (None: any) of ``protocol`` goes
    to ``to_port`` on the pod's own loopback, where the node has a socket; the socket learns the
    original destination with SO_ORIGINAL_DST (kube-proxy's old userspace mode, per pod).
    ``to_port`` None leaves matching traffic alone (and later rules do not see it)."""

    protocol: str  # "tcp" or "udp"
    destination: str
    port: int | None
    to_port: int | None


@dataclass(frozen=True)
class ContainerConfig:
    name: str
    # The process to run: image entrypoint/cmd and the container's command/args already merged
    # and $(VAR)-expanded by the kubelet.
    argv: list[str]
    env: dict[str, str]
    working_dir: str | None
    # restartCount of this instance; the log file is <log_directory>/<name>/<attempt>.log
    attempt: int
    stop_signal: int = signal.SIGTERM
    image: str = ""
    # The volumes to mount, in the order the kubelet lists them (a later mount may nest in an earlier).
    mounts: tuple[Mount, ...] = ()
    # The container's root filesystem: an unpacked image prepared by the runtime's image store,
    # or None for a host command (an image mapped with --image NAME=COMMAND), run on the host's root.
    rootfs: Path | None = None
    # With a rootfs: the user as containerd's oci.WithUser takes it ("uid", "uid:gid", "name",
    # "name:group"), resolved in the image's /etc/passwd and /etc/group; None runs as root.
    user: str | None = None
    # With a rootfs: the CRI's SupplementalGroups (the pod's fsGroup and supplementalGroups),
    # added to the user's; and whether the image's /etc/group memberships are too (the pod's
    # supplementalGroupsPolicy: Merge, the default, or Strict).
    supplemental_groups: tuple[int, ...] = ()
    image_groups: bool = True
    # With a rootfs: where the container finds a fresh, writable termination-message file.
    termination_message_path: str | None = None


@dataclass
class ContainerStatus:
    id: str
    name: str
    attempt: int
    state: ContainerState
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # Monotonic clock readings of the same instants, for logic (back-off, initialDelaySeconds).
    started_mono: float | None = None
    finished_mono: float | None = None
    # As Kubernetes reports it: 128+N when PID 1 died of signal N (137 after SIGKILL).
    exit_code: int | None = None
    # Runtime reasons, as containerd's CRI sets them: Completed, Error, StartError, OOMKilled.
    reason: str | None = None
    message: str | None = None
    log_path: Path | None = None
    # The container's PID 1 as seen from the engine's PID namespace (None when not running).
    pid: int | None = None
    image: str = ""
    # The process's user as the runtime set it, (uid, gid, supplementary groups), for the status's
    # containerStatuses[].user.linux (containerd reports it from the spec); None: not reported.
    user: tuple[int, int, tuple[int, ...]] | None = None


@dataclass
class ExecResult:
    exit_code: int
    # stdout then stderr (not interleaved), cut at the limit asked for, as ExecSync returns them.
    output: bytes = b""
    timed_out: bool = False


@dataclass
class RuntimeInfo:
    """What the runtime found about this machine, for messages and ``hitless up`` start-up."""

    name: str
    namespaces: bool
    notes: list[str] = field(default_factory=list)


class RuntimeService(Protocol):
    def info(self) -> RuntimeInfo: ...

    # --- sandboxes ---
    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str: ...

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Kill every container of the sandbox and the sandbox holder. Idempotent."""
        ...

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop the sandbox, remove its containers and forget it (their log files stay). Idempotent."""
        ...

    def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus: ...

    # --- containers ---
    async def create_container(self, sandbox_id: str, config: ContainerConfig) -> str: ...

    async def start_container(self, container_id: str) -> None:
        """Start the created container. Raises :class:`StartError` when its process cannot run."""
        ...

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """Send the stop signal to PID 1 only, wait up to ``timeout`` seconds, then SIGKILL.

        ``timeout <= 0`` means SIGKILL at once. The stop signal is sent once per container, as
        containerd does: a second stop (a shorter grace period) only brings the SIGKILL closer.
        Returns once the container has exited and every process of it is gone. Stopping an
        exited container is a no-op.
        """
        ...

    async def remove_container(self, container_id: str) -> None: ...

    def container_status(self, container_id: str) -> ContainerStatus: ...

    async def wait_container(self, container_id: str) -> ContainerStatus:
        """Return the container's status once it has exited (at once if it already has)."""
        ...

    async def exec_sync(
        self, container_id: str, argv: list[str], timeout: float | None, output_limit: int = 10240
    ) -> ExecResult:
        """Run ``argv`` inside the container's namespaces with its env and working directory.

        On timeout the exec's whole process tree is killed and ``timed_out`` is set. Raises
        :class:`StartError` when ``argv[0]`` cannot be executed at all.
        """
        ...

    # --- the pod network, as seen from the node ---
    async def open_connection(
        self, sandbox_id: str, host: str, port: int, timeout: float
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection made from inside the sandbox's network namespace."""
        ...

    async def sandbox_socket(
        self, sandbox_id: str, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM
    ) -> socket.socket:
        """A new non-blocking socket that belongs to the sandbox's network namespace."""
        ...

    async def set_sandbox_redirects(self, sandbox_id: str, redirects: list[Redirect]) -> None:
        """Install ``redirects``, in order (the first match wins), in the sandbox's network
        namespace, replacing any installed before. Raises RuntimeError_ when it cannot."""
        ...

    async def shutdown(self) -> None:
        """Kill everything this runtime started. Safe to call more than once."""
        ...
