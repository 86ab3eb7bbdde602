"""``image-latest-tag``: an image without a tag, or tagged ``latest``."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.api.defaults import image_tag
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        for c, path in w.containers():
            image = c.image or ""
            if not image or image_tag(image) != "latest":
                continue
            what = (
                "is tagged latest" if image.rsplit("/", 1)[-1].endswith(":latest") else "has no tag (latest)"
            )
            yield ctx.finding(
                RULE,
                w.obj,
                f"{path}.image",
                f"container {c.name!r}: image {image!r} {what}: imagePullPolicy defaults to Always, every "
                "start pulls whatever latest is then, so the pods of one ReplicaSet (and a pod restarted "
                "after a crash) may run different code, and a rollback does not bring the old code back",
            )


RULE = Rule(
    id="image-latest-tag",
    severity=Severity.WARNING,
    summary="An image without a tag, or tagged latest",
    behaviour=(
        "The API server defaults imagePullPolicy to Always for an image whose tag is latest or "
        "missing (pkg/apis/core/v1/defaults.go), so the kubelet pulls it at every container start "
        "(pkg/kubelet/images/image_manager.go): what runs depends on when each pod started, and a "
        "registry outage stops every start with ErrImagePull / ImagePullBackOff."
    ),
    fix="Pin the image to a version tag or a digest (name:1.2.3, name@sha256:...).",
    check=_check,
    kube_score=("container-image-tag",),
    kube_linter=("latest-tag",),
)
