"""Volume plugins: what SetUp does for each volume source, with the kubelet's error words.

Sources: pkg/volume/emptydir, configmap, secret, projected, downwardapi, hostpath (each plugin's
SetUpAt and makePayload / CollectData), pkg/fieldpath (FormatMap). A plugin returns the host
path that the container's mount binds; an error's text is what follows
``MountVolume.SetUp failed for volume "<name>" :`` in the FailedMount Event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from hitless.api.types.config import ConfigMap, Secret
from hitless.api.types.pod import Pod
from hitless.api.types.volume import (
    DownwardAPIVolumeFile,
    HostPathVolumeSource,
    KeyToPath,
    Volume,
)
from hitless.kubelet import quantity
from hitless.kubelet.env import ConfigObjects, ContainerConfigError, NodeAllocatable, resource_field_value
from hitless.kubelet.volumes.atomic_writer import AtomicWriter, FileProjection, PayloadError
from hitless.kubelet.volumes.tmpfs import is_mount_point, mount_tmpfs

# The API server's default for defaultMode (0644), should a volume arrive undefaulted.
DEFAULT_MODE = 0o644

PLUGIN_DIRS = {
    "empty_dir": "kubernetes.io~empty-dir",
    "config_map": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "projected": "kubernetes.io~projected",
    "downward_api": "kubernetes.io~downward-api",
}
# Volumes whose content the kubelet keeps in sync with the API (RequiresRemount).
REMOUNTED = {"config_map", "secret", "projected", "downward_api"}


class MountError(Exception):
    """SetUp failed; the message is the plugin's."""


class NotReady(Exception):
    """The volume cannot be set up yet for a reason that is not SetUp's (an unbound claim)."""


def source_kind(volume: Volume) -> str:
    for kind in ("host_path", "empty_dir", "secret", "persistent_volume_claim", "downward_api", "config_map"):
        if getattr(volume, kind) is not None:
            return kind
    if volume.projected is not None:
        return "projected"
    return "unsupported"


@dataclass
class VolumeHost:
    """What plugins need from the kubelet."""

    pods_dir: Path
    objects: ConfigObjects
    allocatable: NodeAllocatable
    # Whether memory-backed volumes get a tmpfs (only in the engine's own mount namespace).
    tmpfs: bool
    wall: Callable[[], datetime]
    # persistentVolumeClaim -> the host directory its bound volume lives in (NotReady while unbound).
    claim_path: Callable[[str, str], Path] | None = None
    token_key: bytes = field(default_factory=lambda: os.urandom(32))
    # The API server's TokenRequest (pod, audience, expirationSeconds) -> token, when one is served
    # (apiserver/serviceaccount.py; ValueError in its words when it refuses); None: the kubelet
    # signs a look-alike with token_key, which nothing verifies.
    request_token: Callable[[Pod, str | None, int], str] | None = None
    # The token manager's cache: (pod uid, audience, expiration) -> (token, issued at).
    tokens: dict[tuple[str, str, int], tuple[str, float]] = field(default_factory=dict)

    def volume_dir(self, pod_uid: str, volume: Volume) -> Path:
        plugin = PLUGIN_DIRS.get(source_kind(volume), "kubernetes.io~" + source_kind(volume))
        return self.pods_dir / pod_uid / "volumes" / plugin / volume.name


def set_up(host: VolumeHost, pod: Pod, volume: Volume) -> Path:
    """SetUp (or, for a volume already set up, the remount that refreshes it): the host path."""
    kind = source_kind(volume)
    uid = pod.metadata.uid or ""
    if kind == "host_path":
        assert volume.host_path is not None
        return host_path(volume.host_path)
    if kind == "persistent_volume_claim":
        assert volume.persistent_volume_claim is not None
        if host.claim_path is None:
            raise NotReady(f'persistentvolumeclaims "{volume.persistent_volume_claim.claim_name}" not found')
        return host.claim_path(pod.namespace, volume.persistent_volume_claim.claim_name)
    if kind == "unsupported":
        # The desired-state populator cannot even find a plugin: "failed to process", no SetUp.
        raise NotReady("no volume plugin matched")
    directory = host.volume_dir(uid, volume)
    if kind == "empty_dir":
        assert volume.empty_dir is not None
        memory = volume.empty_dir.medium == "Memory"
        limit = volume.empty_dir.size_limit
        _make_dir(host, directory, memory, quantity.value(quantity.parse_quantity(limit)) if limit else None)
        return directory
    payload = _payload(host, pod, volume, kind)
    # Each plugin's wrappedVolumeSpec: secret, projected and downwardAPI volumes are an emptyDir
    # of medium Memory underneath (their data never touches the disk), configMap a disk one.
    _make_dir(host, directory, kind in ("secret", "projected", "downward_api"), None)
    try:
        AtomicWriter(directory, host.wall()).write(payload)
    except PayloadError as exc:
        raise MountError(str(exc)) from exc
    return directory


def _make_dir(host: VolumeHost, directory: Path, memory: bool, size: int | None) -> None:
    if directory.is_dir() and (not memory or not host.tmpfs or is_mount_point(directory)):
        return
    directory.mkdir(parents=True, exist_ok=True)
    if memory and host.tmpfs and not is_mount_point(directory):
        mount_tmpfs(directory, size)
    # emptydir.go setupDir: the volume is world-writable, whatever the umask.
    directory.chmod(0o777)


def _payload(host: VolumeHost, pod: Pod, volume: Volume, kind: str) -> dict[str, FileProjection]:
    if kind == "config_map":
        assert volume.config_map is not None
        src = volume.config_map
        return config_map_payload(host, pod, src.name, src.items, src.default_mode, bool(src.optional))
    if kind == "secret":
        assert volume.secret is not None
        s = volume.secret
        return secret_payload(host, pod, s.secret_name, s.items, s.default_mode, bool(s.optional))
    if kind == "downward_api":
        assert volume.downward_api is not None
        source = volume.downward_api
        return downward_api_payload(host, pod, source.items or [], source.default_mode)
    assert volume.projected is not None
    return projected_payload(host, pod, volume)


def config_map_payload(
    host: VolumeHost, pod: Pod, name: str, items: list[KeyToPath] | None, mode: int | None, optional: bool
) -> dict[str, FileProjection]:
    cm = host.objects.config_map(pod.namespace, name)
    if cm is None:
        if not optional:
            raise MountError(f'configmap "{name}" not found')
        cm = ConfigMap.model_validate(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": pod.namespace}}
        )
    return _make_payload(cm.files(), items, mode, optional, "configmap references non-existent config key")


def secret_payload(
    host: VolumeHost, pod: Pod, name: str, items: list[KeyToPath] | None, mode: int | None, optional: bool
) -> dict[str, FileProjection]:
    secret = host.objects.secret(pod.namespace, name)
    if secret is None:
        if not optional:
            raise MountError(f'secret "{name}" not found')
        secret = Secret.model_validate(
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": pod.namespace}}
        )
    return _make_payload(secret.decoded(), items, mode, optional, "references non-existent secret key")


def _make_payload(
    data: dict[str, bytes], items: list[KeyToPath] | None, mode: int | None, optional: bool, missing: str
) -> dict[str, FileProjection]:
    default = DEFAULT_MODE if mode is None else mode
    if not items:
        return {key: FileProjection(value, default) for key, value in data.items()}
    payload: dict[str, FileProjection] = {}
    for item in items:
        if item.key not in data:
            if optional:
                continue
            raise MountError(f"{missing}: {item.key}")
        payload[item.path] = FileProjection(data[item.key], default if item.mode is None else item.mode)
    return payload


def downward_api_payload(
    host: VolumeHost, pod: Pod, items: list[DownwardAPIVolumeFile], mode: int | None
) -> dict[str, FileProjection]:
    """downwardapi.CollectData: each file's value; errors of several files are reported together."""
    default = DEFAULT_MODE if mode is None else mode
    payload: dict[str, FileProjection] = {}
    errors: list[str] = []
    for item in items:
        file_mode = default if item.mode is None else item.mode
        try:
            if item.field_ref is not None:
                text = field_path_value(pod, item.field_ref.field_path)
            elif item.resource_field_ref is not None:
                text = resource_field_value(
                    pod, pod.spec.containers[0], item.resource_field_ref, host.allocatable
                )
            else:
                continue
        except (ContainerConfigError, MountError) as exc:
            errors.append(str(exc))
            continue
        payload[item.path] = FileProjection(text.encode(), file_mode)
    if errors:
        raise MountError(_aggregate(errors))
    return payload


def field_path_value(pod: Pod, path: str) -> str:
    """pkg/fieldpath ExtractFieldPathAsString, for what a downward API volume may ask."""
    meta = pod.metadata
    if path == "metadata.labels":
        return format_map(meta.labels or {})
    if path == "metadata.annotations":
        return format_map(meta.annotations or {})
    m = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if m:
        source = meta.labels if m.group(1) == "labels" else meta.annotations
        return (source or {}).get(m.group(2), "")
    simple = {"metadata.name": meta.name, "metadata.namespace": pod.namespace, "metadata.uid": meta.uid}
    if path in simple:
        return simple[path] or ""
    raise MountError(f"unsupported fieldPath: {path}")


def format_map(values: dict[str, str]) -> str:
    """fieldpath.FormatMap: ``key="value"`` lines (Go's %q), sorted by key."""
    return "\n".join(f"{k}={json.dumps(values[k], ensure_ascii=False)}" for k in sorted(values))


def projected_payload(host: VolumeHost, pod: Pod, volume: Volume) -> dict[str, FileProjection]:
    """projected.go collectData: every source's files in one volume; all sources' errors together."""
    assert volume.projected is not None
    mode = volume.projected.default_mode
    payload: dict[str, FileProjection] = {}
    errors: list[str] = []
    for source in volume.projected.sources or []:
        try:
            if source.secret is not None:
                s = source.secret
                payload.update(secret_payload(host, pod, s.name, s.items, mode, bool(s.optional)))
            elif source.config_map is not None:
                c = source.config_map
                payload.update(config_map_payload(host, pod, c.name, c.items, mode, bool(c.optional)))
            elif source.downward_api is not None:
                payload.update(downward_api_payload(host, pod, source.downward_api.items or [], mode))
            elif source.service_account_token is not None:
                token = source.service_account_token
                data = service_account_token(host, pod, token.audience, token.expiration_seconds or 3607)
                payload[token.path] = FileProjection(data.encode(), DEFAULT_MODE if mode is None else mode)
        except MountError as exc:
            errors.append(str(exc))
    if errors:
        raise MountError(_aggregate(errors))
    return payload


def _aggregate(errors: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): one error as itself, several in brackets."""
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def service_account_token(host: VolumeHost, pod: Pod, audience: str | None, expiration: int) -> str:
    """The pod's bound service-account token: the API server's (TokenRequest) when the run serves
    the API, else one shaped like it, signed with the kubelet's own key (an app that decodes it
    finds the claims it would find on a cluster, but nothing verifies it).

    Kept, as pkg/kubelet/token's manager keeps it, until 80 % of its lifetime has passed (or 24 h),
    so that a remount rewrites the file only when the token is renewed."""
    key = (pod.metadata.uid or "", audience or "", expiration)
    now_f = host.wall().timestamp()
    cached = host.tokens.get(key)
    if cached is not None and now_f - cached[1] < min(expiration * 0.8, 24 * 3600):
        return cached[0]
    if host.request_token is not None:
        try:
            token = host.request_token(pod, audience, expiration)
        except ValueError as exc:
            # pkg/kubelet/token/token_manager.go GetServiceAccountToken.
            raise MountError(f"failed to fetch token: {exc}") from exc
    else:
        token = _issue_token(host, pod, audience, expiration, int(now_f))
    host.tokens[key] = (token, now_f)
    return token


def _issue_token(host: VolumeHost, pod: Pod, audience: str | None, expiration: int, now: int) -> str:
    sa = (pod.spec.model_extra or {}).get("serviceAccountName") or "default"
    claims = {
        "aud": [audience] if audience else ["https://kubernetes.default.svc.cluster.local"],
        "exp": now + expiration,
        "iat": now,
        "iss": "https://kubernetes.default.svc.cluster.local",
        "kubernetes.io": {
            "namespace": pod.namespace,
            "node": {"name": pod.spec.node_name or ""},
            "pod": {"name": pod.name, "uid": pod.metadata.uid},
            "serviceaccount": {"name": sa},
        },
        "nbf": now,
        "sub": f"system:serviceaccount:{pod.namespace}:{sa}",
    }
    header = _b64(json.dumps({"alg": "HS256", "kid": "hitless"}, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(host.token_key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def host_path(source: HostPathVolumeSource) -> Path:
    """hostPath's type check (host_path.go checkType), creating what the *OrCreate types create."""
    path = Path(source.path)
    kind = source.type or ""
    if kind == "":
        return path
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    try:
        if kind == "DirectoryOrCreate" and st is None:
            path.mkdir(mode=0o755, parents=True)
            return path
        if kind == "FileOrCreate" and st is None:
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
            os.close(fd)
            return path
    except OSError as exc:
        raise MountError(str(exc)) from exc
    checks: dict[str, tuple[Callable[[int], bool], str]] = {
        "Directory": (stat.S_ISDIR, "a directory"),
        "DirectoryOrCreate": (stat.S_ISDIR, "a directory"),
        "File": (stat.S_ISREG, "a file"),
        "FileOrCreate": (stat.S_ISREG, "a file"),
        "Socket": (stat.S_ISSOCK, "a socket file"),
        "CharDevice": (stat.S_ISCHR, "a character device"),
        "BlockDevice": (stat.S_ISBLK, "a block device"),
    }
    if kind not in checks:
        raise MountError(f"{kind} is an invalid volume type")
    test, what = checks[kind]
    if st is None or not test(st.st_mode):
        raise MountError(f"hostPath type check failed: {source.path} is not {what}")
    return path
