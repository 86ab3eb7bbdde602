"""core/v1 volume sources, volume mounts and the env sources that read ConfigMaps and Secrets.

The Pod model keeps ``volumes``, ``volumeMounts``, ``envFrom`` and most of ``valueFrom`` verbatim
(``extra="allow"``); these models are the typed view the kubelet reads them through
(:func:`pod_volumes`, :func:`container_volume_mounts`, ...). Field names as in
k8s.io/api/core/v1/types.go.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from hitless.api.types.base import IntOrString, K8sModel
from hitless.api.types.pod import Container, ObjectFieldSelector, Pod


class KeyToPath(K8sModel):
    key: str
    path: str
    mode: int | None = None


class ConfigMapVolumeSource(K8sModel):
    name: str = ""
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class SecretVolumeSource(K8sModel):
    secret_name: str = ""
    items: list[KeyToPath] | None = None
    default_mode: int | None = None
    optional: bool | None = None


class ResourceFieldSelector(K8sModel):
    container_name: str | None = None
    resource: str
    divisor: IntOrString | None = None


class DownwardAPIVolumeFile(K8sModel):
    path: str
    field_ref: ObjectFieldSelector | None = None
    resource_field_ref: ResourceFieldSelector | None = None
    mode: int | None = None


class DownwardAPIVolumeSource(K8sModel):
    items: list[DownwardAPIVolumeFile] | None = None
    default_mode: int | None = None


class ConfigMapProjection(K8sModel):
    name: str = ""
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class SecretProjection(K8sModel):
    name: str = ""
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class DownwardAPIProjection(K8sModel):
    items: list[DownwardAPIVolumeFile] | None = None


class ServiceAccountTokenProjection(K8sModel):
    audience: str | None = None
    expiration_seconds: int | None = None
    path: str


class VolumeProjection(K8sModel):
    secret: SecretProjection | None = None
    downward_api: DownwardAPIProjection | None = Field(default=None, alias="downwardAPI")
    config_map: ConfigMapProjection | None = None
    service_account_token: ServiceAccountTokenProjection | None = None


class ProjectedVolumeSource(K8sModel):
    sources: list[VolumeProjection] | None = None
    default_mode: int | None = None


class EmptyDirVolumeSource(K8sModel):
    medium: str | None = None
    size_limit: IntOrString | None = None


class HostPathVolumeSource(K8sModel):
    path: str
    type: str | None = None


class PersistentVolumeClaimVolumeSource(K8sModel):
    claim_name: str
    read_only: bool | None = None


class Volume(K8sModel):
    name: str
    host_path: HostPathVolumeSource | None = None
    empty_dir: EmptyDirVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    persistent_volume_claim: PersistentVolumeClaimVolumeSource | None = None
    downward_api: DownwardAPIVolumeSource | None = Field(default=None, alias="downwardAPI")
    config_map: ConfigMapVolumeSource | None = None
    projected: ProjectedVolumeSource | None = None


class VolumeMount(K8sModel):
    name: str
    read_only: bool | None = None
    mount_path: str
    sub_path: str | None = None
    mount_propagation: str | None = None
    sub_path_expr: str | None = None


class ConfigMapKeySelector(K8sModel):
    name: str = ""
    key: str
    optional: bool | None = None


class SecretKeySelector(K8sModel):
    name: str = ""
    key: str
    optional: bool | None = None


class ValueFromSources(K8sModel):
    """The ``valueFrom`` sources that the Pod model keeps verbatim."""

    resource_field_ref: ResourceFieldSelector | None = None
    config_map_key_ref: ConfigMapKeySelector | None = None
    secret_key_ref: SecretKeySelector | None = None


class ConfigMapEnvSource(K8sModel):
    name: str = ""
    optional: bool | None = None


class SecretEnvSource(K8sModel):
    name: str = ""
    optional: bool | None = None


class EnvFromSource(K8sModel):
    prefix: str | None = None
    config_map_ref: ConfigMapEnvSource | None = None
    secret_ref: SecretEnvSource | None = None


def _extra(model: K8sModel, key: str) -> Any:
    return (model.model_extra or {}).get(key)


def pod_volumes(pod: Pod) -> list[Volume]:
    return [Volume.model_validate(v) for v in _extra(pod.spec, "volumes") or []]


def container_volume_mounts(container: Container) -> list[VolumeMount]:
    return [VolumeMount.model_validate(m) for m in _extra(container, "volumeMounts") or []]


def container_env_from(container: Container) -> list[EnvFromSource]:
    return [EnvFromSource.model_validate(s) for s in _extra(container, "envFrom") or []]


def container_resources(container: Container) -> tuple[dict[str, Any], dict[str, Any]]:
    """(limits, requests) as written (quantities unparsed)."""
    resources = _extra(container, "resources") or {}
    return dict(resources.get("limits") or {}), dict(resources.get("requests") or {})
