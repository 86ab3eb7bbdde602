"""Starting and killing one container, as kuberuntime does it.

``start_container`` follows kuberuntime_container.go startContainer: ensure the image, generate
the config, create, start, then run postStart synchronously (the pod's sync waits for it; a
failure kills the container, preStop included). ``kill_container`` follows killContainer: the
grace period for the kill reason, preStop counted against it in whole seconds and abandoned when
it overruns, sidecar ordering, the 2-second floor, then the runtime's stop (signal to PID 1,
SIGKILL at the deadline). ``kill_pod`` is killPodWithSyncResult: every running container at once,
then the sandbox. The container's CRI config is generated in container_config.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any

from hitless.api.types.config import Secret
from hitless.api.types.pod import Container, Pod
from hitless.clock import Clock, wait_for
from hitless.kubelet.backoff import Backoff
from hitless.kubelet.container_config import ContainerSources, PodContext, StartFailure, generate_config
from hitless.kubelet.format import container_field_path, format_pod, go_duration
from hitless.kubelet.hooks import HandlerRunner
from hitless.kubelet.image_manager import ImageFailure, ImageManager, ResolvedImage, pod_pull_secrets
from hitless.kubelet.images import ImageConfig, ImageService, container_argv, not_runnable_message
from hitless.kubelet.ordering import TerminationOrdering
from hitless.kubelet.views import ContainerView
from hitless.runtime import cri
from hitless.store.events import NORMAL, WARNING, EventRecorder

# pkg/kubelet/kuberuntime/kuberuntime_manager.go minimumGracePeriodInSeconds
MINIMUM_GRACE_PERIOD = 2


def stable_key(pod: Pod, container: Container) -> str:
    """Back-off key: pod identity plus a hash of the container spec (a spec change starts fresh)."""
    digest = hashlib.sha256(container.model_dump_json(by_alias=True).encode()).hexdigest()[:16]
    return f"{pod.name}_{pod.namespace}_{pod.metadata.uid}_{container.name}_{digest}"


def kill_grace(pod: Pod, container: Container, reason: str) -> int:
    """kuberuntime_container.go setTerminationGracePeriod."""
    if pod.metadata.deletion_grace_period_seconds is not None:
        return pod.metadata.deletion_grace_period_seconds
    tgps = pod.spec.termination_grace_period_seconds
    if tgps is not None:
        probe = {"StartupProbe": container.startup_probe, "LivenessProbe": container.liveness_probe}.get(
            reason
        )
        if probe is not None and probe.termination_grace_period_seconds is not None:
            return probe.termination_grace_period_seconds
        return tgps
    return MINIMUM_GRACE_PERIOD


class ContainerManager:
    def __init__(
        self,
        runtime: cri.RuntimeService,
        images: ImageService,
        hooks: HandlerRunner,
        clock: Clock,
        recorder: EventRecorder,
        sources: ContainerSources | None = None,
    ) -> None:
        self.sources = sources
        self._runtime = runtime
        self._images = images
        self._hooks = hooks
        self._clock = clock
        self._recorder = recorder
        self.crash_backoff = Backoff(clock)
        self.image_backoff = Backoff(clock)
        self._image_manager = ImageManager(clock, self.image_backoff)
        # The Secret objects of the cluster, for imagePullSecrets (the kubelet's secret manager).
        self.get_secret: Callable[[str, str], Secret | None] = lambda namespace, name: None
        # Abandoned preStop hooks still run; keep references so they are not collected.
        self._abandoned: set[asyncio.Task[object]] = set()

    def _event(self, pod: Pod, name: str, type_: str, reason: str, message: str) -> None:
        self._recorder.event(pod, type_, reason, message, container_field_path(pod, name))

    # --- start -----------------------------------------------------------------------------------

    def crashloop_backoff(self, ctx: PodContext, view: ContainerView) -> StartFailure | None:
        """doBackOff: refuse to restart an exited container while its back-off runs."""
        latest = view.latest
        if latest is None or latest.state is not cri.ContainerState.EXITED or latest.finished_mono is None:
            return None
        key = stable_key(ctx.pod, view.spec)
        if self.crash_backoff.is_in_backoff_since(key, latest.finished_mono):
            pod = ctx.pod
            self._event(
                pod,
                view.spec.name,
                WARNING,
                "BackOff",
                f"Back-off restarting failed container {view.spec.name} in pod {format_pod(pod)}",
            )
            delay = go_duration(self.crash_backoff.get(key))
            return StartFailure(
                "CrashLoopBackOff",
                f"back-off {delay} restarting failed container={view.spec.name} pod={format_pod(pod)}",
            )
        self.crash_backoff.next(key, latest.finished_mono)
        return None

    async def _ensure_image(
        self, ctx: PodContext, container: Container, attempt: int
    ) -> tuple[cri.ContainerConfig, ResolvedImage] | StartFailure:
        """images/image_manager.go EnsureImageExists, then generateContainerConfig.

        An image mapped to a host command is "present on the machine". Without an image store
        (the fake runtime's tests), an unmapped image cannot be pulled unless the container sets
        its own command, which then runs on the host; with one, every unmapped image is pulled
        (``image_manager.ImageManager``), with the image manager's back-off (10 s doubling to
        300 s, per pod and image) between failed attempts.
        """
        pod, name, image = ctx.pod, container.name, container.image or ""
        mapped = self._images.resolve(image)
        store = self._images.store
        if mapped is None and store is not None:

            def emit(type_: str, reason: str, message: str) -> None:
                self._event(pod, name, type_, reason, message)

            secrets = self._pull_secrets(pod)
            result = await self._image_manager.ensure(store, pod, container, emit, secrets)
            if isinstance(result, ImageFailure):
                self._event(pod, name, WARNING, "Failed", f"Error: {result.reason}")
                return StartFailure(result.reason, result.message)
            resolved = result
        else:
            failure = self._host_image(ctx, container, mapped)
            if failure is not None:
                return failure
            resolved = ResolvedImage(
                config=mapped or ImageConfig(),
                image_id=self._images.image_id(image, mapped),
                status_image=image,
            )
        config = generate_config(ctx, container, resolved, attempt, self.sources, self._event, self._recorder)
        if isinstance(config, StartFailure):
            return config
        return config, resolved

    def _pull_secrets(self, pod: Pod) -> list[dict[str, Any]]:
        found, failed = pod_pull_secrets(pod, self.get_secret)
        if failed:
            self._recorder.event(
                pod,
                WARNING,
                "FailedToRetrieveImagePullSecret",
                f"Unable to retrieve some image pull secrets ({', '.join(failed)}); attempting to pull "
                "the image may not succeed.",
            )
        return found

    def _host_image(
        self, ctx: PodContext, container: Container, mapped: ImageConfig | None
    ) -> StartFailure | None:
        """The host-command path: ErrImagePull for an image nobody can run, else "present"."""
        pod, name, image = ctx.pod, container.name, container.image or ""
        argv = container_argv(container, mapped)
        if argv is None and container.image_pull_policy == "Never":
            message = f'Container image "{image}" is not present with pull policy of Never'
            self._event(pod, name, WARNING, "ErrImageNeverPull", message)
            self._event(pod, name, WARNING, "Failed", "Error: ErrImageNeverPull")
            return StartFailure("ErrImageNeverPull", message)
        if argv is None:
            key = f"{pod.metadata.uid}_{image}"
            if self.image_backoff.is_in_backoff_since_update(key):
                message = f'Back-off pulling image "{image}"'
                self._event(pod, name, NORMAL, "BackOff", message)
                self._event(pod, name, WARNING, "Failed", "Error: ImagePullBackOff")
                return StartFailure("ImagePullBackOff", message)
            message = not_runnable_message(image)
            self._event(pod, name, NORMAL, "Pulling", f'Pulling image "{image}"')
            self._event(pod, name, WARNING, "Failed", f'Failed to pull image "{image}": {message}')
            self._event(pod, name, WARNING, "Failed", "Error: ErrImagePull")
            self.image_backoff.next(key, self._clock.now())
            return StartFailure("ErrImagePull", message)
        self._event(pod, name, NORMAL, "Pulled", f'Container image "{image}" already present on machine')
        return None

    async def start_container(
        self, ctx: PodContext, view: ContainerView, on_created: Callable[[cri.ContainerStatus], None]
    ) -> StartFailure | None:
        """Start a new instance; ``on_created`` learns of it as soon as the runtime has it."""
        pod, container = ctx.pod, view.spec
        # restartCount: one more than the newest instance's.
        attempt = view.latest.attempt + 1 if view.latest is not None else 0
        ensured = await self._ensure_image(ctx, container, attempt)
        if isinstance(ensured, StartFailure):
            return ensured
        config, resolved = ensured
        view.image_id = resolved.image_id
        view.status_image = resolved.status_image
        container_id = await self._runtime.create_container(ctx.sandbox_id, config)
        self._event(pod, container.name, NORMAL, "Created", f"Created container: {container.name}")
        try:
            await asyncio.shield(self._runtime.start_container(container_id))
        except cri.StartError as exc:
            on_created(self._runtime.container_status(container_id))
            self._event(pod, container.name, WARNING, "Failed", f"Error: {exc}")
            return StartFailure("RunContainerError", str(exc))
        on_created(self._runtime.container_status(container_id))
        self._event(pod, container.name, NORMAL, "Started", f"Started container {container.name}")
        post_start = container.lifecycle.post_start if container.lifecycle else None
        if post_start is None:
            return None
        # The sync waits for the hook, however long it takes. If the container dies meanwhile,
        # an exec hook dies with it (it runs in the container's PID namespace) and an HTTP hook
        # finds nobody listening, so both fail, as they do on a node.
        message, err = await self._hooks.run(container_id, pod, container, post_start, ctx.pod_ip)
        if err is None:
            return None
        # The kubelet keeps the hook's output out of the Event (it may hold secrets).
        self._event(pod, container.name, WARNING, "FailedPostStartHook", "PostStartHook failed")
        await self.kill_container(ctx, view, container_id, "FailedPostStartHook", "FailedPostStartHook", None)
        return StartFailure("PostStartHookError", message)

    # --- kill ------------------------------------------------------------------------------------

    async def kill_container(
        self,
        ctx: PodContext,
        view: ContainerView,
        container_id: str,
        message: str,
        reason: str,
        grace_override: int | None,
        ordering: TerminationOrdering | None = None,
    ) -> None:
        pod, container = ctx.pod, view.spec
        grace = kill_grace(pod, container, reason)
        self._event(pod, container.name, NORMAL, "Killing", message or f"Stopping container {container.name}")
        if grace_override is not None:
            grace = grace_override
        pre_stop = container.lifecycle.pre_stop if container.lifecycle else None
        if pre_stop is not None and grace > 0:
            grace -= await self._run_pre_stop(ctx, container, container_id, grace)
        if ordering is not None and grace > 0:
            grace -= int(await ordering.wait_for_turn(container.name, grace))
        grace = max(grace, MINIMUM_GRACE_PERIOD)
        await self._runtime.stop_container(container_id, grace)
        if ordering is not None:
            ordering.container_terminated(container.name)

    async def _run_pre_stop(
        self, ctx: PodContext, container: Container, container_id: str, grace: int
    ) -> int:
        """Run preStop for at most ``grace`` seconds; return the whole seconds it took."""
        assert container.lifecycle is not None and container.lifecycle.pre_stop is not None
        handler = container.lifecycle.pre_stop
        start = self._clock.now()

        async def run() -> None:
            _, err = await self._hooks.run(container_id, ctx.pod, container, handler, ctx.pod_ip)
            if err is not None:
                # The kubelet does not put the hook's output in the Event (it may hold secrets).
                self._event(ctx.pod, container.name, WARNING, "FailedPreStopHook", "PreStopHook failed")

        task: asyncio.Task[object] = asyncio.ensure_future(run())
        try:
            finished, _ = await wait_for(self._clock, asyncio.shield(task), grace)
        except asyncio.CancelledError:
            # Termination starts over (a shorter grace period): the kubelet's context is
            # cancelled, which ends the hook with an error; the new attempt runs preStop again.
            task.cancel()
            self._event(ctx.pod, container.name, WARNING, "FailedPreStopHook", "PreStopHook failed")
            raise
        if not finished:
            self._abandoned.add(task)
            task.add_done_callback(self._abandoned.discard)
        return int(self._clock.now() - start)

    async def kill_pod(
        self, ctx: PodContext, views: list[ContainerView], grace: int | None, force: bool = False
    ) -> None:
        """killPodWithSyncResult: kill every running container in parallel, then the sandbox.

        Sidecars wait for the app containers and for the sidecars after them
        (kuberuntime_termination_order.go). ``force``
        is hitless's own kill-now: SIGKILL at once, no hooks.
        """
        running = [v for v in views if v.running]
        if force:
            kills = [self._runtime.stop_container(v.latest_id, 0) for v in running]
        else:
            ordering = None
            if ctx.pod.spec.sidecars():
                ordering = TerminationOrdering(ctx.pod, [v.name for v in running], self._clock)
            kills = [self.kill_container(ctx, v, v.latest_id, "", "", grace, ordering) for v in running]
        results = await asyncio.gather(*kills, return_exceptions=True)
        await self._runtime.stop_pod_sandbox(ctx.sandbox_id)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def shutdown(self) -> None:
        if self._images.store is not None:
            # A pull no pod waits for any more must not outlive the node (the store is shared
            # by every node; closing it twice is harmless).
            await self._images.store.aclose()
        for task in list(self._abandoned):
            task.cancel()
