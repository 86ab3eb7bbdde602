"""The load agent's pod (verify/agent.py runs it): its spec, the permissions the runner needs for
it, the report's line on it."""

from __future__ import annotations

import math
from typing import Any

from hitless import __version__
from hitless.verify import agentrbac
from hitless.verify.cluster_steps import WARM_UP_TIMEOUT, ClusterError
from hitless.verify.options import VerifyOptions

AGENT_LABEL = "hitless.dev/agent"
CONTAINER = "agent"
# How long the agent's first lists may take, retried (its RoleBinding reaching the authorizer).
WATCH_TIMEOUT = 10.0


def default_image() -> str:
    """The image the examples name: the Dockerfile at the repository root, at this version."""
    return f"hitless:{__version__}"


def agent_access(namespace: str, own_namespace: bool = True) -> list[dict[str, str]]:
    """The agent's permissions, for the preflight (cluster_steps.required_access's shape): its
    pod's, and those that give it its watches' access (verify/agentrbac.py)."""
    return [*agentrbac.rbac_access(namespace, own_namespace),
        {"verb": "create", "group": "", "resource": "pods", "namespace": namespace},
        {"verb": "delete", "group": "", "resource": "pods", "namespace": namespace},
        {"verb": "get", "group": "", "resource": "pods", "namespace": namespace},
        {"verb": "get", "group": "", "resource": "pods", "subresource": "log", "namespace": namespace},
    ]  # fmt: skip


def agent_pod(
    name: str,
    image: str,
    run_id: str,
    selector: dict[str, str],
    target: str,
    opts: VerifyOptions,
    warm: list[str],
    watch: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The agent's pod; with ``watch`` (namespace, Service) it also runs the view's watches as
    the ServiceAccount of its own name (verify/agentrbac.py)."""
    labels = {
        AGENT_LABEL: run_id,
        "app.kubernetes.io/name": "hitless-agent",
        "app.kubernetes.io/managed-by": "hitless",
    }
    # A Service selects the pods whose labels hold all of its selector (an empty one selects none).
    if selector and all(labels.get(k) == v for k, v in selector.items()):
        raise ClusterError(f"the Service's selector {selector} would select the load agent's pod")
    args = [
        "agent", "load", "--target", target, "--rps", f"{opts.rps:g}", "--path", opts.path,
        "--connections", opts.connections, "--timeout", f"{opts.timeout:g}",
        "--warm-up-pods", ",".join(warm), "--warm-up-timeout", f"{WARM_UP_TIMEOUT:g}",
    ]  # fmt: skip
    access: dict[str, Any] = {"automountServiceAccountToken": False}
    if watch is not None:
        namespace, service = watch
        args += ["--namespace", namespace, "--service", service, "--watch-timeout", f"{WATCH_TIMEOUT:g}"]
        args += ["--selector", ",".join(f"{k}={v}" for k, v in selector.items())]
        access = {"serviceAccountName": name, "automountServiceAccountToken": True}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            # A bare Pod, not a Job: nothing restarts or replaces it; the run deletes it.
            "restartPolicy": "Never",
            # SIGTERM, then the requests in flight get --timeout to finish before it prints "end".
            "terminationGracePeriodSeconds": math.ceil(opts.timeout) + 5,
            **access,
            # The image's ENTRYPOINT is `hitless` (Dockerfile): only the arguments are given.
            "containers": [{"name": CONTAINER, "image": image, "args": args}],
        },
    }


def agent_summary(info: dict[str, Any]) -> str:
    """The text report's line on the agent (report.json has it all under ``cluster.agent``)."""
    line = f"load from the in-cluster agent: pod {info['pod']} on node {info.get('node')}"
    line += f", clock {info.get('clock', {}).get('mapping', 'unmapped')}"
    if info.get("watches"):
        line += ", blamed from its own watches"
    elif "watchesNot" in info:
        line += f"; blamed from the watches here: {info['watchesNot']}"
    if info.get("unread"):
        line += f"; {info['unread']} requests never read from its log"
    if info.get("truncated"):
        line += f"; {info['truncated']}"
    return line
