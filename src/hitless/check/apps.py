"""What can be told about a container's process from its spec: its argv, whether a shell is PID 1,
and, for hitless's own workload (``hitless demo-app``), its start-up and SIGTERM behaviour.

The demo app's flags are documented in docs/demo-app.md; reading them lets a rule say "this app
stops serving at SIGTERM" as a fact instead of a guess.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from hitless.api.types.pod import Container, ExecAction

SHELLS = {"sh", "bash", "ash", "dash", "zsh", "ksh", "busybox"}
# PID-1 helpers that forward the stop signal to the real process.
INITS = {"tini", "dumb-init", "catatonit", "s6-svscan", "docker-init"}
# Images whose root file system has no shell and no coreutils (distroless, scratch-like).
_SHELLLESS = re.compile(r"(^|/)(distroless|static|scratch)([/:-]|$)|gcr\.io/distroless/|(^|/)pause(:|$)")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s)?$")


def argv(container: Container) -> list[str]:
    """command + args as the kubelet combines them; the ``hitless`` image's ENTRYPOINT is known."""
    command = list(container.command or [])
    args = list(container.args or [])
    if not command and _is_hitless_image(container.image or ""):
        command = ["hitless"]
    return command + args


def _is_hitless_image(image: str) -> bool:
    repo = image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return repo == "hitless" or repo.endswith("/hitless")


def base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def shell_script(command: list[str]) -> str | None:
    """The script of ``sh -c SCRIPT`` (also ``busybox sh -c``), else None."""
    words = list(command)
    if words and base(words[0]) == "busybox":
        words = words[1:]
    if len(words) >= 3 and base(words[0]) in SHELLS and words[1] in ("-c", "-ec", "-xc", "-exc"):
        return words[2]
    return None


def shellless_image(image: str | None) -> bool:
    return bool(image) and bool(_SHELLLESS.search(image or ""))


def exec_sleep_seconds(action: ExecAction | None) -> float | None:
    """The seconds of an exec ``sleep N`` (or ``sh -c "sleep N"``) hook, else None."""
    if action is None or not action.command:
        return None
    words = action.command
    script = shell_script(words)
    if script is not None:
        try:
            words = shlex.split(script)
        except ValueError:
            return None
    if len(words) == 2 and base(words[0]) == "sleep":
        return duration(words[1])
    return None


def duration(text: str) -> float | None:
    m = _DURATION.match(text.strip())
    if not m:
        return None
    value = float(m.group(1))
    return value / 1000 if m.group(2) == "ms" else value


@dataclass(frozen=True)
class DemoApp:
    """The behaviour ``hitless demo-app`` was given by its flags."""

    startup_delay_s: float
    ready_after_s: float  # --readyz ok-after:N
    on_sigterm: str  # drain, exit, ignore, default
    shutdown_delay_s: float
    drain_timeout_s: float
    max_latency_s: float
    ports: tuple[int, ...]

    @property
    def serves_after_sigterm_s(self) -> float | None:
        """How long it keeps accepting new requests after SIGTERM (None: until SIGKILL)."""
        if self.on_sigterm == "drain":
            return self.shutdown_delay_s
        if self.on_sigterm == "exit":
            return 0.0
        return None  # ignore, or default as PID 1 (the kernel drops an unhandled SIGTERM)

    @property
    def drain_s(self) -> float:
        """How long it needs after SIGTERM to finish: keep serving, then let in-flight requests end."""
        if self.on_sigterm == "drain":
            return self.shutdown_delay_s + min(self.drain_timeout_s, self.max_latency_s)
        return 0.0


_DEMO_FLAGS = {
    "--startup-delay": "startup",
    "--readyz": "readyz",
    "--readiness": "readyz",
    "--on-sigterm": "on_sigterm",
    "--shutdown-delay": "shutdown",
    "--delay-shutdown": "shutdown",
    "--drain-timeout": "drain",
    "--latency": "latency",
    "--port": "port",
    "-p": "port",
    "--http-port": "port",
}


def demo_app(container: Container) -> DemoApp | None:
    words = argv(container)
    try:
        start = next(
            i for i, w in enumerate(words) if w == "demo-app" and i and base(words[i - 1]) == "hitless"
        )
    except StopIteration:
        return None
    values: dict[str, list[str]] = {}
    rest = words[start + 1 :]
    i = 0
    while i < len(rest):
        word = rest[i]
        name, eq, value = word.partition("=")
        key = _DEMO_FLAGS.get(name)
        if key is not None:
            if not eq:
                if i + 1 >= len(rest):
                    break
                value = rest[i + 1]
                i += 1
            values.setdefault(key, []).append(value)
        i += 1

    def last(key: str, default: str) -> str:
        return values.get(key, [default])[-1]

    def seconds(key: str, default: str) -> float:
        return duration(last(key, default)) or 0.0

    ready_after = 0.0
    readyz = last("readyz", "ok")
    if readyz.startswith("ok-after:"):
        ready_after = duration(readyz.split(":", 1)[1]) or 0.0
    latency = last("latency", "0")
    max_latency = duration(latency.split(":")[-1]) or 0.0
    ports = tuple(int(p) for p in values.get("port", ["8080"]) if p.isdigit())
    return DemoApp(
        startup_delay_s=seconds("startup", "0"),
        ready_after_s=ready_after,
        on_sigterm=last("on_sigterm", "drain"),
        shutdown_delay_s=seconds("shutdown", "0"),
        drain_timeout_s=seconds("drain", "30"),
        max_latency_s=max_latency,
        ports=ports,
    )
