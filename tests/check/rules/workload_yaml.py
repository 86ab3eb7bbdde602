"""StatefulSet and DaemonSet manifests for the rule tests, written inline."""

from __future__ import annotations

CONTAINER = """\
      containers:
      - name: web
        image: hitless:0.1.0
        args: [demo-app, --port=8080, --on-sigterm=drain, --drain-timeout=5]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1, failureThreshold: 2}
        lifecycle: {preStop: {sleep: {seconds: 3}}}
"""


def daemonset(strategy: str = "", grace: int = 15) -> str:
    return (
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: edge}\nspec:\n"
        "  selector: {matchLabels: {app: edge}}\n"
        + (f"  updateStrategy: {strategy}\n" if strategy else "")
        + "  template:\n    metadata: {labels: {app: edge}}\n    spec:\n"
        + f"      terminationGracePeriodSeconds: {grace}\n"
        + CONTAINER
    )


def statefulset(replicas: int = 3, extra: str = "", grace: int = 15, period: int = 1) -> str:
    return (
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n"
        f"  replicas: {replicas}\n  serviceName: db\n  selector: {{matchLabels: {{app: db}}}}\n"
        + (f"  {extra}\n" if extra else "")
        + "  template:\n    metadata: {labels: {app: db}}\n    spec:\n"
        + f"      terminationGracePeriodSeconds: {grace}\n"
        + CONTAINER.replace("periodSeconds: 1", f"periodSeconds: {period}")
    )


def service(app: str, extra: str = "") -> str:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata: {{name: {app}}}\nspec:\n"
        + (f"  {extra}\n" if extra else "")
        + f"  selector: {{app: {app}}}\n  ports: [{{port: 80, targetPort: http}}]\n"
    )
