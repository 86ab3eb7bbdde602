"""The image store beside the runtime: references, registries and credentials, the
content-addressed cache, unpacking. It knows nothing of pods or probes.

The runtime asks :meth:`ImageStore.get` (``IfNotPresent``) and :meth:`ImageStore.pull`, and gets an
:class:`Image`: the flattened tree every container of that image shares read-only (an overlay's
lower directory) and the image config under Kubernetes' rules. A failed pull raises
:class:`ImagePullError` (``reason`` the kubelet's waiting reason, ``str()`` the message).
"""

from hitless.images.errors import ImagePullError, InvalidImageName, RegistryUnavailable
from hitless.images.model import Image, ImageConfig, Platform, PullOptions, default_root
from hitless.images.reference import Reference, normalize, parse
from hitless.images.sources import PullSecrets
from hitless.images.store import ImageStore

__all__ = [
    "Image",
    "ImageConfig",
    "ImagePullError",
    "ImageStore",
    "InvalidImageName",
    "Platform",
    "PullOptions",
    "PullSecrets",
    "Reference",
    "RegistryUnavailable",
    "default_root",
    "normalize",
    "parse",
]
