"""The ServiceAccount admission plugin: every pod created gets its service account's API access.

plugin/pkg/admission/serviceaccount/admission.go (Admit, shouldAutomount, mountServiceAccountToken,
TokenVolumeSource): ``serviceAccountName`` defaults to ``default``; unless the pod's (or else
the ServiceAccount's) ``automountServiceAccountToken`` is false, a projected volume
``kube-api-access-XXXXX`` (a 3607 s token, ``ca.crt`` from the ``kube-root-ca.crt`` ConfigMap,
``namespace`` from the downward API, mode 0644) is mounted read-only at
/var/run/secrets/kubernetes.io/serviceaccount in every container and init container that has no
mount there already.

Run by the store on every pod it creates while the API server is up (``Store.admission``), so the
pods of manifests and controllers get it as those of kubectl do. Deliberate difference: a pod whose
ServiceAccount does not exist is admitted (upstream refuses it, "error looking up service
account"); its kubelet then fails the token's mount until the ServiceAccount appears.
"""

from __future__ import annotations

import random
from typing import Any

from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.store.store import Store

TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
# utilrand's alphabet, as names.SimpleNameGenerator uses it.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def token_volume_source() -> dict[str, Any]:
    return {
        "defaultMode": 0o644,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
    }


class ServiceAccountAdmission:
    def __init__(self, store: Store, rng: random.Random | None = None) -> None:
        self.store = store
        self.rng = rng or random.Random()

    def __call__(self, obj: K8sObject) -> K8sObject:
        if not isinstance(obj, Pod):
            return obj
        spec = obj.spec
        extra = spec.model_extra
        assert extra is not None
        if (obj.metadata.annotations or {}).get("kubernetes.io/config.mirror"):
            return obj
        name = extra.get("serviceAccountName") or extra.get("serviceAccount") or "default"
        extra["serviceAccountName"] = name
        extra["serviceAccount"] = name
        if self._should_automount(obj, name):
            self._mount(obj)
        return obj

    def _should_automount(self, pod: Pod, name: str) -> bool:
        own = (pod.spec.model_extra or {}).get("automountServiceAccountToken")
        if own is not None:
            return bool(own)
        sa = self.store.get("ServiceAccount", pod.namespace, name)
        if sa is not None:
            value = (sa.model_extra or {}).get("automountServiceAccountToken")
            if value is not None:
                return bool(value)
        return True

    def _mount(self, pod: Pod) -> None:
        extra = pod.spec.model_extra
        assert extra is not None
        volumes: list[dict[str, Any]] = list(extra.get("volumes") or [])
        volume_name = next(
            (v.get("name") for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)), None
        )
        has_volume = volume_name is not None
        if volume_name is None:
            taken = {v.get("name") for v in volumes}
            while volume_name is None or volume_name in taken:
                volume_name = VOLUME_PREFIX + "".join(self.rng.choices(_ALPHABET, k=5))
        needs_volume = False
        for container in [*(pod.spec.init_containers or []), *pod.spec.containers]:
            cextra = container.model_extra
            assert cextra is not None
            mounts: list[dict[str, Any]] = cextra.get("volumeMounts") or []
            if any(m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts):
                continue
            mounts.append({"name": volume_name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})
            cextra["volumeMounts"] = mounts
            needs_volume = True
        if not has_volume and needs_volume:
            volumes.append({"name": volume_name, "projected": token_volume_source()})
            extra["volumes"] = volumes
