"""The bootstrap RBAC policy kube-apiserver makes at start (its rbac/bootstrap-roles post-start hook).

Ported from plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go (ClusterRoles,
ClusterRoleBindings), checked against its rendered testdata/cluster-roles.yaml and
cluster-role-bindings.yaml: the roles a client needs to discover the API and ask what it may do
(``system:discovery``, ``system:basic-user``, ``system:public-info-viewer``), ``cluster-admin``,
and the user-facing ``admin``, ``edit`` and ``view``, whose rules the aggregation
(controlplane.py) gathers from the ``system:aggregate-to-*`` roles and from any ClusterRole a
chart labels ``rbac.authorization.k8s.io/aggregate-to-...``. The roles of the control plane's own
components (system:node, system:kube-scheduler, ...) are not made: nothing here runs as them.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
_RBAC = "rbac.authorization.k8s.io"
_BOOTSTRAP_META: Json = {
    "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
    "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
}


def _cluster_role(name: str, rules: list[Json]) -> Json:
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, **_BOOTSTRAP_META},
        "rules": rules,
    }


def _cluster_binding(name: str, *groups: str) -> Json:
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, **_BOOTSTRAP_META},
        "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": _RBAC, "kind": "Group", "name": g} for g in groups],
    }


def _rule(verbs: str, groups: str, resources: str) -> Json:
    """A PolicyRule from space-separated lists ("-" is the core group "")."""
    return {
        "apiGroups": ["" if g == "-" else g for g in groups.split()],
        "resources": resources.split(),
        "verbs": verbs.split(),
    }


_READ = "get list watch"
_WRITE = "create delete deletecollection patch update"
_ALL = "create delete deletecollection get list patch update watch"


def _aggregated(name: str, into: str | None = None) -> Json:
    """admin, edit, view: their rules are what the aggregation controller gathers."""
    labels = {"kubernetes.io/bootstrapping": "rbac-defaults"}
    if into:
        labels[f"rbac.authorization.k8s.io/aggregate-to-{into}"] = "true"
    return {
        "apiVersion": f"{_RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels, "annotations": dict(_BOOTSTRAP_META["annotations"])},
        "aggregationRule": {
            "clusterRoleSelectors": [
                {"matchLabels": {f"rbac.authorization.k8s.io/aggregate-to-{name}": "true"}}
            ]
        },
    }


def _aggregate_to(name: str, rules: list[Json]) -> Json:
    role = _cluster_role(f"system:aggregate-to-{name}", rules)
    role["metadata"]["labels"] = {
        **role["metadata"]["labels"],
        f"rbac.authorization.k8s.io/aggregate-to-{name}": "true",
    }
    return role


# bootstrappolicy/policy.go ClusterRoles() and ClusterRoleBindings() (as rendered in its
# testdata/cluster-roles.yaml): the roles a client needs to discover the API and ask what it may
# do, and the user-facing admin, edit and view with the system:aggregate-to-* roles they gather.
BOOTSTRAP_POLICY: list[Json] = [
    _aggregated("admin"),
    _aggregated("edit", into="admin"),
    _aggregated("view", into="edit"),
    _aggregate_to(
        "admin",
        [
            _rule("create", "authorization.k8s.io", "localsubjectaccessreviews"),
            _rule(_ALL, "rbac.authorization.k8s.io", "rolebindings roles"),
        ],
    ),
    _aggregate_to(
        "edit",
        [
            _rule(_READ, "-", "pods/attach pods/exec pods/portforward pods/proxy secrets services/proxy"),
            _rule("impersonate", "-", "serviceaccounts"),
            _rule(_WRITE, "-", "pods pods/attach pods/exec pods/portforward pods/proxy"),
            _rule("create", "-", "pods/eviction"),
            _rule(
                _WRITE,
                "-",
                "configmaps events persistentvolumeclaims replicationcontrollers "
                "replicationcontrollers/scale secrets serviceaccounts services services/proxy",
            ),
            _rule("create", "-", "serviceaccounts/token"),
            _rule(
                _WRITE,
                "apps",
                "daemonsets deployments deployments/rollback deployments/scale replicasets replicasets/scale "
                "statefulsets statefulsets/scale",
            ),
            _rule(_WRITE, "autoscaling", "horizontalpodautoscalers"),
            _rule(_WRITE, "batch", "cronjobs jobs"),
            _rule(
                _WRITE,
                "extensions",
                "daemonsets deployments deployments/rollback deployments/scale ingresses networkpolicies "
                "replicasets replicasets/scale replicationcontrollers/scale",
            ),
            _rule(_WRITE, "policy", "poddisruptionbudgets"),
            _rule(_WRITE, "networking.k8s.io", "ingresses networkpolicies"),
            _rule(_ALL, "coordination.k8s.io", "leases"),
        ],
    ),
    _aggregate_to(
        "view",
        [
            _rule(
                _READ,
                "-",
                "configmaps endpoints persistentvolumeclaims persistentvolumeclaims/status pods "
                "replicationcontrollers replicationcontrollers/scale serviceaccounts services "
                "services/status",
            ),
            _rule(
                _READ,
                "-",
                "bindings events limitranges namespaces/status pods/log pods/status "
                "replicationcontrollers/status resourcequotas resourcequotas/status",
            ),
            _rule(_READ, "-", "namespaces"),
            _rule(_READ, "discovery.k8s.io", "endpointslices"),
            _rule(
                _READ,
                "apps",
                "controllerrevisions daemonsets daemonsets/status deployments deployments/scale "
                "deployments/status replicasets replicasets/scale replicasets/status statefulsets "
                "statefulsets/scale statefulsets/status",
            ),
            _rule(_READ, "autoscaling", "horizontalpodautoscalers horizontalpodautoscalers/status"),
            _rule(_READ, "batch", "cronjobs cronjobs/status jobs jobs/status"),
            _rule(
                _READ,
                "extensions",
                "daemonsets daemonsets/status deployments deployments/scale deployments/status ingresses "
                "ingresses/status networkpolicies replicasets replicasets/scale replicasets/status "
                "replicationcontrollers/scale",
            ),
            _rule(_READ, "policy", "poddisruptionbudgets poddisruptionbudgets/status"),
            _rule(_READ, "networking.k8s.io", "ingresses ingresses/status networkpolicies"),
        ],
    ),
    _cluster_role(
        "cluster-admin",
        [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"nonResourceURLs": ["*"], "verbs": ["*"]},
        ],
    ),
    _cluster_role(
        "system:discovery",
        [
            {
                "nonResourceURLs": [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                "verbs": ["get"],
            }
        ],
    ),
    _cluster_role(
        "system:basic-user",
        [
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                "verbs": ["create"],
            },
            {
                "apiGroups": ["authentication.k8s.io"],
                "resources": ["selfsubjectreviews"],
                "verbs": ["create"],
            },
        ],
    ),
    _cluster_role(
        "system:public-info-viewer",
        [{"nonResourceURLs": ["/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}],
    ),
    # For components that check their own clients through this server (kube-rbac-proxy).
    _cluster_role(
        "system:auth-delegator",
        [
            {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
            {
                "apiGroups": ["authorization.k8s.io"],
                "resources": ["subjectaccessreviews"],
                "verbs": ["create"],
            },
        ],
    ),
    _cluster_binding("cluster-admin", "system:masters"),
    _cluster_binding("system:discovery", "system:authenticated"),
    _cluster_binding("system:basic-user", "system:authenticated"),
    _cluster_binding("system:public-info-viewer", "system:authenticated", "system:unauthenticated"),
]
