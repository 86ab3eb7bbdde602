"""The load agent's access to the API: a ServiceAccount, a Role granting exactly what its watches
send (verify/agentwatch.py: list and watch of Pods, EndpointSlices, Events) and a RoleBinding,
each named after the agent's pod, in the run's namespace.

Created by the runner before the pod (whose token the kubelet then mounts), deleted with the
throwaway namespace, or one by one after the pod with ``--namespace``. Creating a Role that grants
list and watch needs the runner to hold them itself (RBAC's escalation check): it does, for its
own watches; ``get`` is not granted, as no watch sends it.
"""

from __future__ import annotations

from typing import Any

from hitless.kube.client import ApiError, KubeClient
from hitless.verify.agentwatch import VERBS, VIEW_WATCHES

RBAC = "/apis/rbac.authorization.k8s.io/v1/namespaces"
KINDS = (
    ("", "serviceaccounts"),
    ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
)


def rbac_access(namespace: str, own_namespace: bool) -> list[dict[str, str]]:
    """The runner's permissions to give the agent its access (required_access's shape)."""
    verbs = ("create",) if own_namespace else ("create", "delete")
    return [{"verb": v, "group": g, "resource": r, "namespace": namespace} for g, r in KINDS for v in verbs]


def role_rules() -> list[dict[str, Any]]:
    groups: dict[str, list[str]] = {}
    for w in VIEW_WATCHES:
        groups.setdefault(w.group, []).append(w.resource)
    return [{"apiGroups": [g], "resources": rs, "verbs": list(VERBS)} for g, rs in groups.items()]


def objects(name: str, namespace: str, labels: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, body) of the ServiceAccount, Role and RoleBinding, in creation order."""
    meta = {"name": name, "labels": labels}
    return [
        (
            f"/api/v1/namespaces/{namespace}/serviceaccounts",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        ),
        (
            f"{RBAC}/{namespace}/roles",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": meta,
                "rules": role_rules(),
            },
        ),
        (
            f"{RBAC}/{namespace}/rolebindings",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
            },
        ),
    ]


async def create(
    client: KubeClient, name: str, namespace: str, labels: dict[str, str], made: list[str]
) -> None:
    """Create them, appending each created one's path to ``made`` (to delete) as it goes; raises
    ApiError on a refusal."""
    for collection, body in objects(name, namespace, labels):
        # A 409 (one of that name exists, not this run's) is a refusal too: never take it over.
        await client.request("POST", collection, body=body)
        made.append(f"{collection}/{name}")


async def delete(client: KubeClient, paths: list[str]) -> list[str]:
    """Delete them, the binding first; what could not be deleted, in the API server's words."""
    left: list[str] = []
    for p in reversed(paths):
        try:
            await client.request("DELETE", p)
        except ApiError as exc:
            if exc.code != 404:
                left.append(f"{p}: {exc}")
    return left
