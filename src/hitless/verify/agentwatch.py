"""The watches the blame's view is built from, in one place for both who run them: the runner
(cluster_steps.Watched, which adds the workload's) and the in-cluster load agent (cli/agent.py),
whose Role (verify/agentrbac.py) grants exactly these.

Light on purpose, as verify/agentwire.py: the agent imports this, the API client and the load
generator only.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitless.clock import Clock
from hitless.kube.client import EventHandler, KubeClient, Reflector


@dataclass(frozen=True)
class ViewWatch:
    """One resource the view watches: a core or grouped API path and the verbs a reflector sends."""

    group: str
    version: str
    resource: str

    def path(self, namespace: str) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/namespaces/{namespace}/{self.resource}"


PODS = ViewWatch("", "v1", "pods")
ENDPOINTSLICES = ViewWatch("discovery.k8s.io", "v1", "endpointslices")
EVENTS = ViewWatch("", "v1", "events")
VIEW_WATCHES = (PODS, ENDPOINTSLICES, EVENTS)
# A Reflector lists, then watches (kube/client.py): it never sends a single-object get.
VERBS = ("list", "watch")


def view_reflectors(
    client: KubeClient,
    clock: Clock,
    namespace: str,
    selector: str,
    service: str,
    on_pod: EventHandler,
    on_slice: EventHandler,
    on_event: EventHandler,
) -> list[Reflector]:
    """The workload's Pods (the Service's selector), the Service's EndpointSlices, the namespace's
    Events: list+watch each with bookmarks, a re-list after a 410, and its gaps (Reflector)."""
    return [
        Reflector(client, PODS.path(namespace), clock, on_pod, label_selector=selector),
        Reflector(
            client,
            ENDPOINTSLICES.path(namespace),
            clock,
            on_slice,
            label_selector=f"kubernetes.io/service-name={service}",
        ),
        Reflector(client, EVENTS.path(namespace), clock, on_event),
    ]
