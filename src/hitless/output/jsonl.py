"""``--output jsonl``: hitless's machine interface.

One JSON object per line on stdout, as the Kubernetes API would return it: every Event (a
core/v1 Event, written again each time its count goes up) and the full Pod object at every
change, the last one included — a pod's last line carries ``metadata.deletionTimestamp`` when it
was deleted and the containers' final ``terminated`` states. Nothing else is written to stdout.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from hitless.store.store import WatchEvent

KINDS = {"Pod", "Event"}


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
