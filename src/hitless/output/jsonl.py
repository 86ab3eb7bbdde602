"""``--output jsonl``: hitless's machine interface.

One JSON object per line on stdout, as the Kubernetes API would return it: every Event (a
core/v1 Event, written again each time its count goes up) and the full Pod object at every
change, the last one included — a pod's last line carries ``metadata.deletionTimestamp`` when it
was deleted and the containers' final ``terminated`` states. Nothing else is written to stdout.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TextIO

from hitless.api.types.base import format_micro_time
from hitless.proxy.records import ProxySync
from hitless.store.store import WatchEvent

KINDS = {"Pod", "Event", "Service", "EndpointSlice", "Deployment", "ReplicaSet"}
KINDS |= {"StatefulSet", "DaemonSet", "ControllerRevision", "Job", "CronJob"}


class JsonlPrinter:
    def __init__(self, out: TextIO = sys.stdout, kinds: set[str] | None = None) -> None:
        self._out = out
        self._kinds = kinds or KINDS

    def __call__(self, event: WatchEvent) -> None:
        obj = event.object
        if obj.kind not in self._kinds or event.type == "DELETED":
            return
        self._out.write(json.dumps(obj.to_json(), separators=(",", ":")) + "\n")
        self._out.flush()

    def proxy_sync(self, sync: ProxySync, wall: datetime) -> None:
        """A node's proxy applied a Service's endpoints (docs/jsonl.md, ``ProxySync``)."""
        line = {
            "apiVersion": "hitless.dev/v1alpha1",
            "kind": "ProxySync",
            "node": sync.node,
            "service": sync.service,
            "time": format_micro_time(wall),
            "endpoints": [
                {
                    "pod": e.pod,
                    "address": f"{e.address[0]}:{e.address[1]}",
                    "nodeName": e.node,
                    "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
                }
                for e in sync.used
            ],
            "internalMode": sync.internal_mode or None,
            "externalMode": sync.external_mode or None,
            "localEndpoints": sync.local_ready,
        }
        clean = {k: v for k, v in line.items() if v is not None}
        self._out.write(json.dumps(clean, separators=(",", ":")) + "\n")
        self._out.flush()
