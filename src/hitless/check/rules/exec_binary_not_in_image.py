"""``exec-binary-not-in-image``: an exec hook or probe whose binary the (cached) image lacks.

Read from the image cache ``hitless up`` and ``hitless verify`` pull into (``$XDG_CACHE_HOME/
hitless/images``): nothing is pulled, an image not in the cache is not judged. The command is
looked up as runc does, in the image's own PATH and inside its root (its symlinks followed
there), so ``sleep`` in a distroless image is found missing even though the host has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.rules.exec_needs_binary import _actions, _what

if TYPE_CHECKING:
    from hitless.images import Image

# containerd's PATH for an image that sets none (oci.WithDefaultPathEnv).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _cached(image: str, cache: dict[str, Image | None]) -> Image | None:
    if image not in cache:
        from hitless.images import ImagePullError, ImageStore, default_root

        found = None
        if default_root().is_dir():
            try:
                found = ImageStore(default_root()).get(image, any_owners=True)
            except (ImagePullError, OSError, ValueError, KeyError):
                found = None
        cache[image] = found
    return cache[image]


def _missing(image: Image, command: str) -> bool:
    from hitless.runtime.linux.lookup import ExecutableError, resolve

    env = dict(item.partition("=")[::2] for item in image.config.env)
    env.setdefault("PATH", DEFAULT_PATH)
    try:
        resolve(command, env, image.config.working_dir or "/", root=str(image.rootfs))
    except ExecutableError:
        return True
    return False


def _check(ctx: Context) -> Iterator[Finding]:
    cache: dict[str, Image | None] = {}
    for w in ctx.workloads:
        for c, path in w.containers():
            for field, action in _actions(c):
                words = action.command or []
                if not words or not c.image:
                    continue
                image = _cached(c.image, cache)
                if image is None or not _missing(image, words[0]):
                    continue
                what = _what(field)
                failure = {
                    "preStop": "the hook fails every time (FailedPreStopHook) and the container gets "
                    "its stop signal at once",
                    "postStart": "the hook fails every time (FailedPostStartHook) and the container "
                    "is killed and restarted",
                }.get(what, "the probe fails every time")
                yield ctx.finding(
                    RULE,
                    w.obj,
                    f"{path}.{field}",
                    f"container {c.name!r}: {what} runs {words[0]!r}, which the image {c.image!r} "
                    f"(in the image cache, {Path(image.rootfs).name[:12]}) does not have in its PATH: "
                    f"{failure}",
                )


RULE = Rule(
    id="exec-binary-not-in-image",
    severity=Severity.ERROR,
    summary="An exec hook or probe runs a binary the image (in the image cache) does not contain",
    behaviour=(
        "Exec handlers run inside the container, in the image's file system and PATH: a binary the "
        "image lacks fails with 'executable file not found in $PATH' on every run. Checked only for "
        "images already in hitless's image cache (pulled by hitless up or verify)."
    ),
    fix="Use lifecycle.preStop.sleep or an httpGet/tcpSocket/grpc handler, or a binary the image has.",
    check=_check,
)
