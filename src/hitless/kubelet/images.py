"""The image service: what an image means to a runtime that runs host processes.

A container image supplies an ENTRYPOINT, a CMD, environment, a working directory and a stop
signal. The process runtime has no images, so hitless keeps a map from image references to those
same five things. Kubernetes' rules for combining them with the container's ``command`` and
``args`` then apply unchanged (:func:`container_argv`): a container that sets ``command`` runs
whatever the image is, one that relies on the image's ENTRYPOINT needs the image mapped.

Mappings come from built-ins (the ``hitless`` image itself and a few base images), an images
file (``--images FILE``) and ``--image NAME=COMMAND`` flags, later ones winning.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hitless.api.types.pod import Container

if TYPE_CHECKING:
    from hitless.kubelet.image_manager import ImageSource


@dataclass(frozen=True)
class ImageConfig:
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    stop_signal: str | None = None

    def digest(self) -> str:
        text = json.dumps(
            [self.entrypoint, self.cmd, self.env, self.working_dir, self.stop_signal], sort_keys=True
        )
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class ImageConfigError(ValueError):
    """An images file or --image flag that cannot be used."""


def normalize(image: str) -> tuple[str, str]:
    """Split a reference into (repository, tag-or-digest), dropping docker.io/library/."""
    ref = image
    digest = ""
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = ""
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/", "library/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    return ref, digest or tag


def _builtins() -> dict[str, ImageConfig]:
    python = sys.executable
    return {
        # The image built from hitless's Dockerfile: ENTRYPOINT ["hitless"], CMD ["demo-app"].
        "hitless": ImageConfig(entrypoint=[python, "-m", "hitless"], cmd=["demo-app"]),
        "*/hitless": ImageConfig(entrypoint=[python, "-m", "hitless"], cmd=["demo-app"]),
        # Base images whose CMD is a shell: with stdin closed the shell exits at once, which is
        # what such a container does on a cluster too (and ends in CrashLoopBackOff).
        "busybox": ImageConfig(cmd=["sh"]),
        "alpine": ImageConfig(cmd=["/bin/sh"]),
        "debian": ImageConfig(cmd=["bash"]),
        "ubuntu": ImageConfig(cmd=["/bin/bash"]),
        "python": ImageConfig(cmd=["python3"]),
        "registry.k8s.io/pause": ImageConfig(entrypoint=["sleep", "infinity"]),
    }


class ImageService:
    def __init__(
        self, mappings: dict[str, ImageConfig] | None = None, store: ImageSource | None = None
    ) -> None:
        self._mappings = _builtins()
        self._mappings.update(mappings or {})
        # Where every image that is not mapped to a host command comes from. None (the fake
        # runtime's tests): such an image cannot be pulled, and a container that sets its own
        # command runs it on the host, as before images were supported.
        self.store = store

    def add(self, pattern: str, config: ImageConfig) -> None:
        self._mappings[pattern] = config

    def resolve(self, image: str) -> ImageConfig | None:
        """The mapping for an image: exact reference first, then repository, then globs."""
        repo, tag = normalize(image)
        for key in (f"{repo}:{tag}" if tag else None, repo):
            if key is not None and key in self._mappings:
                return self._mappings[key]
        for pattern, config in reversed(list(self._mappings.items())):
            if any(ch in pattern for ch in "*?[") and (
                fnmatch.fnmatchcase(repo, pattern) or fnmatch.fnmatchcase(f"{repo}:{tag}", pattern)
            ):
                return config
        return None

    def image_id(self, image: str, config: ImageConfig | None) -> str:
        repo, _ = normalize(image)
        return f"{repo}@{(config or ImageConfig()).digest()}"

    # --- configuration ---

    def load_file(self, path: str | Path) -> None:
        # Read and parsed as manifests are: bounded in size, aliases bounded, any bytes an error
        # with the line (api/sources.py, api/yamlsource.py), never an exception of its own.
        from hitless.api.sources import read_file
        from hitless.api.yamlsource import parse_stream

        source = read_file(str(path))
        if source.text is None:
            assert source.error is not None
            raise ImageConfigError(f"--images {source.error.format()}")
        parsed = parse_stream(source.text)
        if parsed.problems:
            problem = parsed.problems[0]
            raise ImageConfigError(f"--images {path}:{problem.line}: {problem.message}")
        docs = parsed.documents
        data = docs[0].value if len(docs) == 1 else None
        if not isinstance(data, dict) or not isinstance(data.get("images"), dict):
            raise ImageConfigError(
                f"--images {path}: expected one document, a mapping with an 'images' mapping"
            )
        for name, spec in data["images"].items():
            _check_name(f"--images {path}: images", name)
            self.add(name, _parse_spec(f"--images {path}: images.{name}", spec))

    def add_flag(self, text: str) -> None:
        """``NAME=COMMAND``: the image's ENTRYPOINT, split as a shell would."""
        name, sep, command = text.partition("=")
        if not sep or not name or not command.strip():
            raise ImageConfigError(
                f"--image {text!r}: expected NAME=COMMAND, e.g. nginx='nginx -g \"daemon off;\"'"
            )
        _check_name(f"--image {text!r}:", name)
        self.add(name, ImageConfig(entrypoint=_split(f"--image {text!r}: COMMAND", command)))


def _check_name(where: str, name: str) -> None:
    """An image name (or glob): printable, no spaces; what a reference or pattern can hold."""
    if not name or any(not ch.isprintable() or ch.isspace() for ch in name):
        raise ImageConfigError(f"{where} {name!r} is not an image name (no spaces or control characters)")


def _split(where: str, command: str) -> list[str]:
    """``shlex.split``, whose errors (an unclosed quote) and NUL bytes (which no exec accepts)
    are the flag's errors."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ImageConfigError(f"{where}: {exc}") from None
    if any("\x00" in arg for arg in argv):
        raise ImageConfigError(f"{where}: contains a NUL byte, which no command line can hold")
    return argv


def _parse_spec(where: str, spec: Any) -> ImageConfig:
    if not isinstance(spec, dict):
        raise ImageConfigError(f"{where}: expected a mapping")
    unknown = set(spec) - {"command", "args", "env", "workingDir", "stopSignal"}
    if unknown:
        raise ImageConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")

    def strings(key: str) -> list[str] | None:
        value = spec.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            return _split(f"{where}.{key}", value)
        if not isinstance(value, list) or not all(isinstance(v, str) and "\x00" not in v for v in value):
            raise ImageConfigError(f"{where}.{key}: expected a list of strings (without NUL bytes)")
        return list(value)

    env = spec.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(v, str | int | float | bool) and "\x00" not in str(v) for v in env.values()
    ):
        raise ImageConfigError(f"{where}.env: expected a mapping of names to strings (without NUL bytes)")
    for key in ("workingDir", "stopSignal"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise ImageConfigError(f"{where}.{key}: expected a string")
    return ImageConfig(
        entrypoint=strings("command"),
        cmd=strings("args"),
        env={str(k): str(v) for k, v in env.items()},
        working_dir=spec.get("workingDir"),
        stop_signal=spec.get("stopSignal"),
    )


def container_argv(container: Container, image: ImageConfig | None) -> list[str] | None:
    """Kubernetes' command/args over ENTRYPOINT/CMD; None when there is nothing to run.

    command overrides ENTRYPOINT and drops CMD; args overrides CMD.
    """
    entrypoint = container.command if container.command else (image.entrypoint if image else None)
    if container.args:
        args: list[str] | None = container.args
    elif container.command:
        args = None
    else:
        args = image.cmd if image else None
    argv = [*(entrypoint or []), *(args or [])]
    return argv or None


def not_runnable_message(image: str) -> str:
    repo, _ = normalize(image)
    return (
        f'image "{image}" has no command the process runtime can run: set the container\'s '
        f"command (and args), or map the image to a command with --image {repo}='COMMAND ARGS...' "
        f"or in an images file (--images FILE; see docs/images.md)"
    )
