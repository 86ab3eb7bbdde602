"""What a verify run leaves, a local one (verify/local.py) or one on a cluster (verify/cluster.py):
the report to judge, report.json's document, and what the run could not finish."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hitless.verify.report import Report


class VerifyInputError(ValueError):
    """The options and manifests name nothing the run can verify; nothing was started."""


@dataclass
class Result:
    """A run's report to judge, or why there is none."""

    # None: nothing was judged (the workload never served, or ``overload``).
    report: Report | None
    # Why the scenario did not run to its end (a timeout, a signal); the report says so too.
    incomplete: str | None = None
    # The load generator could not keep the rate: this machine's limit, not the workload's.
    overload: str | None = None
    # Requests sent, judged or not.
    sent: int = 0
    # A cluster run's own account, report.json's ``cluster`` (server, namespace, target, evidence
    # counts, watch gaps, the agent, the cleanup: docs/verify.md); None for a local run.
    cluster: dict[str, Any] | None = None
    # A cluster run's evidence and candidates, one per failure in the report's order.
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.report is not None and self.report.passed

    @property
    def left(self) -> str | None:
        """The namespace a cluster run created and could not delete (report.json's
        ``cluster.cleanup`` says why, and the command that finishes it), else None."""
        cleanup = (self.cluster or {}).get("cleanup") or {}
        return None if cleanup.get("deleted", True) else str(cleanup.get("namespace"))

    def document(self) -> dict[str, Any]:
        """report.json (docs/verify.md); a cluster run's adds ``mode``, ``cluster``, an
        ``evidence`` per failure and the requests each pod answered (``byPod``)."""
        if self.report is None:
            raise ValueError("no report: the run judged nothing")
        doc = self.report.to_json()
        if self.cluster is None:
            return doc
        doc["mode"] = "cluster"
        doc["cluster"] = self.cluster
        for failure, extra in zip(doc["failures"], self.evidence, strict=True):
            failure.update(extra)
        # The answers name their pods (there are no proxy records to route them by).
        by_pod: dict[str, dict[str, int]] = {}
        for r in self.report.requests:
            if r.pod is not None:
                entry = by_pod.setdefault(r.pod, {"total": 0, "failed": 0})
                entry["total"] += 1
        doc["requests"]["byPod"] = dict(sorted(by_pod.items()))
        return doc
