"""What the pod worker knows about each container of the spec, and the rules that read it.

A :class:`ContainerView` is the kubelet's runtime view of one container name: the newest two
instances the runtime reported (the kubelet looks no further back: convertToAPIContainerStatuses
keeps two) and the reason cache entry (why the last start attempt did not happen).
"""

from __future__ import annotations

from dataclasses import dataclass

from hitless.api.types.pod import Container, Pod
from hitless.runtime import cri


@dataclass
class ContainerView:
    spec: Container
    init: bool = False
    latest: cri.ContainerStatus | None = None
    previous: cri.ContainerStatus | None = None
    # The reason cache (pkg/kubelet/reason_cache.go): the error of the last start attempt
    # (CrashLoopBackOff, ErrImagePull, RunContainerError, PostStartHookError...), cleared by a
    # successful start.
    waiting: tuple[str, str] | None = None
    image_id: str = ""
    # containerStatuses[].image: what the runtime reports (the normalized reference of a pulled
    # image, e.g. docker.io/library/nginx:1.27); "" shows the spec's image.
    status_image: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def sidecar(self) -> bool:
        """A restartable init container."""
        return self.init and self.spec.restart_policy == "Always"

    @property
    def running(self) -> bool:
        return self.latest is not None and self.latest.state is cri.ContainerState.RUNNING

    @property
    def latest_id(self) -> str:
        return self.latest.id if self.latest is not None else ""

    def new_instance(self, status: cri.ContainerStatus) -> cri.ContainerStatus | None:
        """Record a new instance; return the one that falls out of the two newest."""
        dropped = self.previous
        self.previous, self.latest = self.latest, status
        return dropped


def should_restart(view: ContainerView, pod: Pod) -> bool:
    """pkg/kubelet/container/helpers.go ShouldContainerBeRestarted (pod-level restartPolicy)."""
    if pod.metadata.deletion_timestamp is not None:
        return False
    latest = view.latest
    if latest is None:
        return True
    if latest.state is cri.ContainerState.RUNNING:
        return False
    if latest.state in (cri.ContainerState.UNKNOWN, cri.ContainerState.CREATED):
        return True
    policy = pod.spec.restart_policy or "Always"
    if policy == "Never":
        return False
    return not (policy == "OnFailure" and latest.exit_code == 0)


def init_container_failed(status: cri.ContainerStatus) -> bool:
    """kuberuntime_container.go isInitContainerFailed."""
    if "OOMKilled" in (status.reason or ""):
        return True
    if status.state is cri.ContainerState.EXITED and status.exit_code != 0:
        return True
    return status.state is cri.ContainerState.UNKNOWN
