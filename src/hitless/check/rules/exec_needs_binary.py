"""``exec-needs-binary``: exec hooks and probes that need a shell or binaries from the image."""

from __future__ import annotations

from collections.abc import Iterator

from hitless.api.types.pod import Container, ExecAction
from hitless.check import apps
from hitless.check.finding import Finding, Severity
from hitless.check.model import Context
from hitless.check.rule import Rule
from hitless.check.rules._util import probes


def _actions(c: Container) -> Iterator[tuple[str, ExecAction]]:
    for field, probe in probes(c):
        if probe.exec is not None:
            yield f"{field}.exec.command", probe.exec
    if c.lifecycle is not None:
        for field, hook in (("postStart", c.lifecycle.post_start), ("preStop", c.lifecycle.pre_stop)):
            if hook is not None and hook.exec is not None:
                yield f"lifecycle.{field}.exec.command", hook.exec


def _what(field: str) -> str:
    parts = field.split(".")
    return parts[1] if parts[0] == "lifecycle" else parts[0]


def _check(ctx: Context) -> Iterator[Finding]:
    for w in ctx.workloads:
        for c, path in w.containers():
            for field, action in _actions(c):
                words = action.command or []
                if not words:
                    continue
                script = apps.shell_script(words)
                binary = apps.base(words[0])
                needs = f"a shell ({words[0]})" if script is not None else f"the binary {binary!r}"
                sleep = apps.exec_sleep_seconds(action)
                fix = (
                    f"Use the native action: lifecycle.preStop.sleep.seconds: {sleep:g} (no binary needed)."
                    if sleep is not None and field.startswith("lifecycle.preStop")
                    else "Use an httpGet, tcpSocket or grpc handler (run by the kubelet, not in the image)."
                )
                shellless = apps.shellless_image(c.image)
                yield ctx.finding(
                    RULE,
                    w.obj,
                    f"{path}.{field}",
                    f"container {c.name!r}: {_what(field)} runs {needs} inside the image "
                    f"{c.image!r}"
                    + (
                        ", which has none (a distroless or scratch-like image): it fails every time"
                        if shellless
                        else "; it fails in an image without it (distroless, scratch)"
                    ),
                    severity=Severity.ERROR if shellless else Severity.INFO,
                    fix=fix,
                )


RULE = Rule(
    id="exec-needs-binary",
    severity=Severity.ERROR,
    summary="An exec hook or probe needs a shell or a binary from the image",
    behaviour=(
        "Exec handlers run inside the container, with the image's file system: a missing binary "
        "fails the probe (it counts as a failure) or the hook (FailedPreStopHook / "
        "FailedPostStartHook; a failed postStart kills the container). The native sleep action "
        "(GA in 1.34) and network handlers run in the kubelet and need nothing from the image. "
        "Error for images known to have no shell (distroless, scratch), info otherwise."
    ),
    fix="Prefer lifecycle.preStop.sleep and httpGet/tcpSocket/grpc probes over exec.",
    check=_check,
)
