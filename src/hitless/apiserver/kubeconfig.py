"""The kubeconfig of a run: a context ``hitless`` merged into the user's kubeconfig (and taken
out again at exit, as ``kind create/delete cluster`` do), or a file of its own.

The merged file is the first of ``$KUBECONFIG``'s paths, else ``~/.kube/config``, as client-go's
loading rules pick the file to write (clientcmd ``GetDefaultFilename``). Entries of other names
are left as they are; the current context is set to ``hitless`` and put back at exit.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

from hitless.apiserver.certs import Credentials

CONTEXT = "hitless"


def default_path() -> Path:
    env = os.environ.get("KUBECONFIG", "")
    for part in env.split(os.pathsep):
        if part:
            return Path(part)
    return Path.home() / ".kube" / "config"


def entries(server: str, creds: Credentials, namespace: str = "default") -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return {
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": b64(creds.ca_pem)}}
        ],
        "users": [
            {
                "name": CONTEXT,
                "user": {
                    "client-certificate-data": b64(creds.client_cert_pem),
                    "client-key-data": b64(creds.client_key_pem),
                },
            }
        ],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}
        ],
    }


def _write(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".hitless-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    os.replace(tmp, path)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}


class Kubeconfig:
    """Where the run's context was written, and how to take it out again."""

    def __init__(self, path: Path, merged: bool) -> None:
        self.path = path
        self.merged = merged
        self._previous_context: str | None = None

    @classmethod
    def write(cls, server: str, creds: Credentials, path: Path | None = None) -> Kubeconfig:
        """A standalone file at ``path``, or the context merged into the default kubeconfig."""
        if path is not None:
            config = {"apiVersion": "v1", "kind": "Config", "preferences": {}, **entries(server, creds)}
            config["current-context"] = CONTEXT
            _write(path, config)
            return cls(path, merged=False)
        target = default_path()
        config = _read(target)
        config.setdefault("apiVersion", "v1")
        config.setdefault("kind", "Config")
        mine = entries(server, creds)
        for section in ("clusters", "users", "contexts"):
            others = [e for e in config.get(section) or [] if e.get("name") != CONTEXT]
            config[section] = others + mine[section]
        self = cls(target, merged=True)
        previous = config.get("current-context")
        self._previous_context = previous if previous and previous != CONTEXT else None
        config["current-context"] = CONTEXT
        _write(target, config)
        return self

    def remove(self) -> None:
        """Take the run's entries out of a merged kubeconfig (a standalone file is kept)."""
        if not self.merged:
            return
        config = _read(self.path)
        if not config:
            return
        for section in ("clusters", "users", "contexts"):
            config[section] = [e for e in config.get(section) or [] if e.get("name") != CONTEXT]
        if config.get("current-context") == CONTEXT:
            config["current-context"] = self._previous_context or ""
        _write(self.path, config)
