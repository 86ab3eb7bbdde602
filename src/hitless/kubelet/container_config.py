"""generateContainerConfig: the CRI config of one container, from its spec, its image and its pod.

Apart from containers.py because it is a pure derivation (environment, mounts, user, signal,
resolv.conf, termination message path) with its own upstream counterpart, where containers.py
drives the runtime (image, create, start, postStart, kill). It reports a config error as the
kubelet does, with an Event and the waiting reason. PodContext and StartFailure live here, the
config being the first to need them; containers.py and syncer.py take them from here.
"""

from __future__ import annotations

import signal as signals
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hitless.api.defaults import TERMINATION_MESSAGE_PATH_DEFAULT
from hitless.api.types.pod import Container, Pod
from hitless.api.types.service import Service
from hitless.kubelet.env import (
    ConfigObjects,
    ContainerConfigError,
    NodeAllocatable,
    container_environment,
    expand,
    service_environment,
)
from hitless.kubelet.image_manager import ResolvedImage
from hitless.kubelet.images import container_argv
from hitless.kubelet.security import container_user, supplemental_groups
from hitless.kubelet.volumes.manager import VolumeManager
from hitless.kubelet.volumes.mounts import make_mounts
from hitless.runtime import cri
from hitless.store.events import WARNING, EventRecorder

# What base_environment takes from the engine besides PATH and HOSTNAME.
ENGINE_ONLY = frozenset({"HOME", "LANG", "TZ"})


@dataclass
class PodContext:
    """What starting and killing a container needs to know about its pod."""

    pod: Pod
    sandbox_id: str
    pod_ip: str
    host_ip: str
    log_directory: Path
    # The kubelet's resolv.conf for the pod (kubelet/dns.py), bound at /etc/resolv.conf.
    resolv_conf: Path | None = None


@dataclass
class ContainerSources:
    """Where a container's environment and mounts come from besides its spec."""

    objects: ConfigObjects
    allocatable: NodeAllocatable
    volumes: VolumeManager | None = None
    # The 1.29 kubelet's envFrom key rule (skipped keys, InvalidEnvironmentVariableNames).
    strict_env_names: bool = False
    # The kubelet's Service lister, for the Services' environment variables (None: no Services).
    services: Callable[[], list[Service]] | None = None


@dataclass(frozen=True)
class StartFailure:
    """Why a start did not happen: the waiting reason and message (the kubelet's reason cache)."""

    reason: str
    message: str


def dns_mounts(ctx: PodContext) -> tuple[cri.Mount, ...]:
    """The pod's resolv.conf over the container's (containerd mounts the sandbox's file at
    /etc/resolv.conf unless a CRI mount already covers it)."""
    if ctx.resolv_conf is None:
        return ()
    return (cri.Mount("/etc/resolv.conf", str(ctx.resolv_conf)),)


def stop_signal(container: Container, image_signal: str | None) -> int:
    name = (container.lifecycle.stop_signal if container.lifecycle else None) or image_signal or "SIGTERM"
    try:
        return int(signals.Signals[name if name.startswith("SIG") else "SIG" + name])
    except KeyError:
        return int(signals.SIGTERM)


def generate_config(
    ctx: PodContext,
    container: Container,
    resolved: ResolvedImage,
    attempt: int,
    sources: ContainerSources | None,
    event: Callable[[Pod, str, str, str, str], None],
    recorder: EventRecorder,
) -> cri.ContainerConfig | StartFailure:
    """The container's CRI config, or why it cannot have one (``event``: the container's Events)."""
    pod, name = ctx.pod, container.name
    argv = container_argv(container, resolved.config)
    if argv is None:
        # containerd's WithProcessArgs refuses a process without arguments.
        message = f'failed to generate container "{name}" spec: no command specified'
        event(pod, name, WARNING, "Failed", f"Error: {message}")
        return StartFailure("CreateContainerError", message)
    try:
        # GenerateRunContainerOptions: the environment, then the mounts (subPathExpr reads it).
        environment = container_environment(
            pod,
            container,
            resolved.config.env,
            ctx.host_ip,
            sources.objects if sources else None,
            sources.allocatable if sources else None,
            sources.strict_env_names if sources else False,
            ctx.pod_ip,
            service_environment(pod, sources.services()) if sources and sources.services else None,
        )
        env, kube_env = environment.env, environment.kube_env
        if resolved.rootfs is not None:
            # The engine's HOME, LANG and TZ are a host command's basics, not an image's
            # (runc sets HOME from the image's passwd).
            declared = {v.name for v in container.env or []} | set(resolved.config.env)
            env = {k: v for k, v in env.items() if k not in ENGINE_ONLY or k in declared}
        user = container_user(pod, container, resolved.user) if resolved.rootfs is not None else None
        mounts: tuple[cri.Mount, ...] = ()
        if sources is not None and sources.volumes is not None:
            mounts = make_mounts(pod, container, sources.volumes.mounted(pod), kube_env)
    except ContainerConfigError as exc:
        event(pod, name, WARNING, "Failed", f"Error: {exc}")
        return StartFailure("CreateContainerConfigError", str(exc))
    for message in environment.skipped:
        recorder.event(pod, WARNING, "InvalidEnvironmentVariableNames", message)
    working_dir = container.working_dir or resolved.config.working_dir
    covered = {m.container_path for m in mounts}
    groups, image_groups = supplemental_groups(pod)
    config = cri.ContainerConfig(
        name=name,
        argv=[expand(arg, kube_env) for arg in argv],
        env=env,
        # The pod's resolv.conf, unless a volume covers it (containerd's isInCRIMounts).
        mounts=mounts + tuple(m for m in dns_mounts(ctx) if m.container_path not in covered),
        working_dir=working_dir,
        attempt=attempt,
        stop_signal=stop_signal(container, resolved.config.stop_signal),
        image=resolved.status_image,
        rootfs=resolved.rootfs,
        user=user,
        supplemental_groups=groups,
        image_groups=image_groups,
        termination_message_path=(
            (container.termination_message_path or TERMINATION_MESSAGE_PATH_DEFAULT)
            if resolved.rootfs is not None
            else None
        ),
    )
    return config
