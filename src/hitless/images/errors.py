"""Why a pull failed, in the words the kubelet shows.

The kubelet turns a runtime's pull error into the container's ``state.waiting`` (reason
``ErrImagePull``, message the error text) and a Warning ``Failed`` Event ``Failed to pull image
"X": <text>`` (kubernetes/kubernetes pkg/kubelet/images/image_manager.go, types.go). An
unparsable reference is ``InvalidImageName`` instead, with an ``InspectFailed`` Event
``Failed to apply default image tag "X": <text>``.
"""

from __future__ import annotations


class ImagePullError(Exception):
    """A pull that failed; nothing of it is left in the cache.

    ``reason`` is the kubelet's waiting reason (``ErrImagePull``, ``InvalidImageName``);
    ``cause`` a short stable word for what went wrong (``not found``, ``unauthorized``,
    ``digest mismatch``, ``timeout``, ``unavailable``, ``invalid layer``, ``unsupported``,
    ``local store``), for tests and for a user's grep; ``str(err)`` is the message, the
    runtime's error text as containerd words it.
    """

    reason = "ErrImagePull"

    def __init__(self, message: str, *, cause: str = "error") -> None:
        super().__init__(message)
        self.message = message
        self.cause = cause


class InvalidImageName(ImagePullError):
    """A reference that distribution/reference's grammar refuses.

    The message is the kubelet's: ``couldn't parse image name "X": invalid reference format``
    (pkg/util/parsers/parsers.go ParseImageName).
    """

    reason = "InvalidImageName"

    def __init__(self, message: str) -> None:
        super().__init__(message, cause="invalid reference")


class RegistryUnavailable(ImagePullError):
    """The registry could not be reached (refused, reset, timed out).

    The kubelet's evalCRIPullErr turns a runtime error that starts with ``RegistryUnavailable``
    into ``image pull failed for X because the registry is unavailable: <detail>``; the message
    here is ``RegistryUnavailable: <detail>`` so the kubelet side can do the same
    (crierrors.ErrRegistryUnavailable, pkg/kubelet/images/image_manager.go evalCRIPullErr).
    """

    def __init__(self, detail: str) -> None:
        super().__init__(f"RegistryUnavailable: {detail}", cause="unavailable")
