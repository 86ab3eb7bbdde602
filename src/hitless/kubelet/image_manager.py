"""EnsureImageExists: the kubelet's image manager over the image store, with its Events.

Ported from kubernetes/kubernetes ``pkg/kubelet/images/image_manager.go`` (EnsureImageExists,
shouldPullImage, evalCRIPullErr) and the error names of ``pkg/kubelet/images/types.go``. An image
the user mapped to a host command (``--image NAME=COMMAND``, ``--images FILE``, and the built-in
``hitless`` and base-image mappings) is "present on the machine" and never pulled; anything else
comes from the :class:`~hitless.images.ImageStore`: present (``IfNotPresent``), pulled (``Always``,
or absent), or refused (``Never``). Pulls that fail back off per pod and image (10 s doubling to
300 s) and several pods waiting for one image share one pull (the store's single-flight).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from hitless.api.defaults import image_tag
from hitless.api.types.config import Secret
from hitless.api.types.pod import Container, Pod
from hitless.clock import Clock
from hitless.kubelet.backoff import Backoff
from hitless.kubelet.format import go_duration
from hitless.kubelet.images import ImageConfig
from hitless.store.events import NORMAL, WARNING

if TYPE_CHECKING:
    # Not at import: the image store pulls in the HTTP client, which only pulls need.
    from hitless.images import Image, ImagePullError

# containerd's PATH for an image whose config sets none (oci.WithDefaultPathEnv).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

Emit = Callable[[str, str, str], None]  # (type, reason, message) about the container


class ImageSource(Protocol):
    """What the kubelet needs of the image store (``hitless.images.ImageStore``)."""

    last_pull_seconds: dict[str, float]

    def get(self, reference: str) -> Image | None: ...

    async def unpack_present(self, reference: str) -> Image | None:
        """The image if its content is here but its tree is not, once unpacked (images/owners.py)."""
        ...

    async def pull(self, reference: str, auth: Sequence[Mapping[str, Any]] | None = None) -> Image: ...

    async def aclose(self) -> None:
        """Cancel the pulls still in flight (the node is stopping)."""
        ...


@dataclass(frozen=True)
class ResolvedImage:
    """What a container runs from, in the terms generateContainerConfig needs."""

    config: ImageConfig
    # The image's USER verbatim; None for a host command (which runs as the engine's user).
    user: str | None = None
    # The flattened image tree (an overlay's lower dir); None: a host command.
    rootfs: Path | None = None
    # containerStatuses[].imageID and .image as the kubelet reports them from containerd.
    image_id: str = ""
    status_image: str = ""
    exposed_ports: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ImageFailure:
    """ErrImagePull, ImagePullBackOff, ErrImageNeverPull, InvalidImageName, RegistryUnavailable."""

    reason: str
    message: str


def should_pull(policy: str | None, present: bool) -> bool:
    """shouldPullImage: Never never, Always always, IfNotPresent (and unset) when absent."""
    if policy == "Never":
        return False
    return policy == "Always" or not present


def pull_duration(seconds: float) -> str:
    """Go's ``time.Duration.Truncate(time.Millisecond).String()``: 830ms, 1.594s, 0s."""
    ms = int(max(seconds, 0.0) * 1000)
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    return go_duration(ms / 1000)


def from_image(image: Image) -> ResolvedImage:
    env: dict[str, str] = {}
    for item in image.config.env:
        key, _, value = item.partition("=")
        env[key] = value
    env.setdefault("PATH", DEFAULT_PATH)
    entrypoint = image.config.entrypoint
    if entrypoint == [""]:
        entrypoint = None  # containerd: an ENTRYPOINT of [""] means none
    config = ImageConfig(
        entrypoint=entrypoint,
        cmd=image.config.cmd,
        env=env,
        working_dir=image.config.working_dir,
        stop_signal=image.config.stop_signal,
    )
    return ResolvedImage(
        config=config,
        user=image.config.user,
        rootfs=image.rootfs,
        image_id=image.repo_digest,
        status_image=image.reference,
        exposed_ports=image.config.exposed_ports,
    )


class ImageManager:
    def __init__(self, clock: Clock, backoff: Backoff) -> None:
        self._clock = clock
        self.backoff = backoff

    async def ensure(
        self,
        store: ImageSource,
        pod: Pod,
        container: Container,
        emit: Emit,
        pull_secrets: Sequence[Mapping[str, Any]] = (),
    ) -> ResolvedImage | ImageFailure:
        """EnsureImageExists for an image that is not mapped to a host command."""
        from hitless.images import ImagePullError, InvalidImageName

        image = container.image or ""
        try:
            present = store.get(image)
            if present is None:
                # Content pulled with other owners (a normal user's `hitless images pull`):
                # present on the machine, its tree for this run unpacked from it.
                with contextlib.suppress(ImagePullError):  # then not present: a pull says why
                    present = await store.unpack_present(image)
        except InvalidImageName as err:
            message = f'Failed to apply default image tag "{image}": {err}'
            emit(WARNING, "InspectFailed", message)
            return ImageFailure("InvalidImageName", message)
        except (OSError, ValueError, KeyError) as err:
            message = f'Failed to inspect image "{image}": {err}'
            emit(WARNING, "InspectFailed", message)
            return ImageFailure("ImageInspectError", message)
        # The API server defaults the policy; an object made without it gets the same default.
        policy = container.image_pull_policy or ("Always" if image_tag(image) == "latest" else "IfNotPresent")
        if not should_pull(policy, present is not None):
            if present is not None:
                emit(NORMAL, "Pulled", f'Container image "{image}" already present on machine')
                return from_image(present)
            message = f'Container image "{image}" is not present with pull policy of Never'
            emit(WARNING, "ErrImageNeverPull", message)
            return ImageFailure("ErrImageNeverPull", message)
        key = f"{pod.metadata.uid}_{image}"
        if self.backoff.is_in_backoff_since_update(key):
            message = f'Back-off pulling image "{image}"'
            emit(NORMAL, "BackOff", message)
            return ImageFailure("ImagePullBackOff", message)
        emit(NORMAL, "Pulling", f'Pulling image "{image}"')
        started = self._clock.now()
        try:
            pulled = await store.pull(image, list(pull_secrets) or None)
        except ImagePullError as err:
            emit(WARNING, "Failed", f'Failed to pull image "{image}": {err}')
            self.backoff.next(key, self._clock.now())
            return _eval_pull_error(image, err)
        # The pull itself (the store's, shared by every pod that waited for it), then this
        # pod's wait including it.
        took = store.last_pull_seconds.get(pulled.reference, 0.0)
        waited = max(self._clock.now() - started, took)
        emit(
            NORMAL,
            "Pulled",
            f'Successfully pulled image "{image}" in {pull_duration(took)} '
            f"({pull_duration(waited)} including waiting). Image size: {pulled.size} bytes.",
        )
        self.backoff.gc()
        return from_image(pulled)


def _eval_pull_error(image: str, err: ImagePullError) -> ImageFailure:
    """evalCRIPullErr: RegistryUnavailable keeps its own reason and wording."""
    text = str(err)
    prefix = "RegistryUnavailable"
    if text.startswith(prefix):
        return ImageFailure(
            prefix, f"image pull failed for {image} because the registry is unavailable{text[len(prefix) :]}"
        )
    return ImageFailure(err.reason, text)


def pod_pull_secrets(
    pod: Pod, get_secret: Callable[[str, str], Secret | None]
) -> tuple[list[dict[str, Any]], list[str]]:
    """getPullSecretsForPod (pkg/kubelet/kubelet_pods.go): each imagePullSecret's decoded docker
    config, and the names of those that cannot be read (the pull goes on without them)."""
    found: list[dict[str, Any]] = []
    failed: list[str] = []
    for ref in (pod.spec.model_extra or {}).get("imagePullSecrets") or []:
        name = ref.get("name") if isinstance(ref, dict) else None
        if not name:
            continue
        secret = get_secret(pod.namespace or "default", name)
        config = _docker_config(secret) if secret is not None else None
        if config is None:
            failed.append(name)
        else:
            found.append(config)
    return found, failed


def _docker_config(secret: Secret) -> dict[str, Any] | None:
    """A kubernetes.io/dockerconfigjson (or legacy dockercfg) Secret's decoded content."""
    try:
        data = secret.decoded()
        raw = data.get(".dockerconfigjson") or data.get(".dockercfg")
        config = json.loads(raw) if raw is not None else None
    except ValueError:  # bad base64 or JSON
        return None
    return config if isinstance(config, dict) else None
