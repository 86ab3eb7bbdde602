"""The verdict: report.json (schema in docs/verify.md), the terminal summary, JUnit for CI."""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree as ET

from hitless.verify.attribute import KEEPALIVE_RESET, Attribution
from hitless.verify.findings import Finding
from hitless.verify.generator import RequestResult
from hitless.verify.timeline import PodLife, Timeline

SCHEMA_VERSION = 1


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


@dataclass
class Report:
    requests: list[RequestResult]
    attribution: Attribution
    findings: list[Finding]
    timeline: Timeline
    # Engine clock reading that report times count from (the load's start).
    origin: float
    max_failures: int = 0
    run: dict[str, Any] = field(default_factory=dict)
    # Why the scenario did not run to its end (interrupted, a workload that never settled): such
    # a run proves nothing, whatever it counted.
    incomplete: str | None = None

    @property
    def failed(self) -> int:
        return len(self.attribution.failures)

    @property
    def passed(self) -> bool:
        return self.incomplete is None and self.failed <= self.max_failures

    def latencies_ms(self) -> dict[str, float | None]:
        values = [r.latency * 1000 for r in self.requests if r.latency is not None and not r.failed]
        return {
            "p50": _round(percentile(values, 50)),
            "p90": _round(percentile(values, 90)),
            "p99": _round(percentile(values, 99)),
            "max": _round(max(values) if values else None),
        }

    def latency_histogram(self) -> dict[str, list[float] | list[int]]:
        """Counts per log-spaced latency bin (5 a decade, 0.1 ms to 10 s; the ends take what is
        beyond), of the successful requests and of the failed ones that have a latency."""
        edges = [round(10 ** (k / 5), 4) for k in range(-5, 21)]
        ok, failed = [0] * (len(edges) - 1), [0] * (len(edges) - 1)
        for r in self.requests:
            if r.latency is None:
                continue
            i = bisect.bisect_right(edges, r.latency * 1000) - 1
            (failed if r.failed else ok)[max(0, min(len(ok) - 1, i))] += 1
        return {"edgesMs": edges, "succeeded": ok, "failed": failed}

    def rate(self) -> dict[str, Any]:
        """Requests and failures per bin of intended send time: the load as it was offered, small
        whatever the run's length (at most ~600 bins)."""
        times = [r.intended - self.origin for r in self.requests]
        if not times:
            return {"binSeconds": 0.1, "start": 0.0, "sent": [], "failed": []}
        span = max(times) - min(times)
        width = next((w for w in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0) if span / w <= 600), 10.0)
        first = math.floor(min(times) / width)
        count = math.floor(max(times) / width) - first + 1
        sent, failed = [0] * count, [0] * count
        for r, t in zip(self.requests, times, strict=True):
            i = math.floor(t / width) - first
            sent[i] += 1
            failed[i] += int(r.failed)
        return {"binSeconds": width, "start": round(first * width, 4), "sent": sent, "failed": failed}

    def _t(self, value: float | None) -> float | None:
        return None if value is None else round(value - self.origin, 4)

    def to_json(self) -> dict[str, Any]:
        by_pod: dict[str, dict[str, int]] = {}
        for request, route in zip(self.requests, self.attribution.routes, strict=True):
            if route.pod is not None:
                entry = by_pod.setdefault(route.pod, {"total": 0, "failed": 0})
                entry["total"] += 1
                entry["failed"] += int(request.failed)
        failures = self.attribution.failures
        by_seq = {r.seq: r for r in self.requests}
        return {
            "schemaVersion": SCHEMA_VERSION,
            "verdict": "pass" if self.passed else "fail",
            "maxFailures": self.max_failures,
            "run": {**self.run, "completed": self.incomplete is None, "incomplete": self.incomplete},
            "requests": {
                "total": len(self.requests),
                "failed": len(failures),
                "succeeded": len(self.requests) - len(failures),
                "retryable": sum(f.retryable for f in failures),
                "byOutcome": dict(sorted(Counter(r.outcome for r in self.requests).items())),
                "byPod": dict(sorted(by_pod.items())),
                "latencyMs": self.latencies_ms(),
                "latencyHistogram": self.latency_histogram(),
            },
            "rate": self.rate(),
            "causes": dict(Counter(f.cause for f in failures).most_common()),
            "failures": [
                {
                    "seq": f.seq,
                    "time": self._t(f.time),
                    "cause": f.cause,
                    "pod": f.pod,
                    "node": f.node,
                    "phase": f.phase,
                    "outcome": f.outcome,
                    "detail": f.detail,
                    "retryable": f.retryable,
                    "latencyMs": _round(f.latency * 1000 if f.latency is not None else None),
                    "reason": f.reason,
                    **_connection(by_seq.get(f.seq)),
                }
                for f in failures
            ],
            "findings": [
                {
                    "cause": f.cause,
                    "object": f.object,
                    "field": f.field,
                    "value": f.value,
                    "message": f.message,
                    "failures": f.failures,
                    "measured": f.measured,
                }
                for f in self.findings
            ],
            "pods": [self._pod_json(life) for life in sorted(self.timeline.lives(), key=self._pod_order)],
            "marks": [{"time": self._t(t), "what": what} for t, what in self.timeline.marks],
        }

    def _pod_order(self, life: PodLife) -> float:
        return life.created if life.created is not None else math.inf

    def _pod_json(self, life: PodLife) -> dict[str, Any]:
        key = life.key
        stop = life.termination_stop()
        kill = life.kill()
        return {
            "pod": key,
            "node": life.node,
            "created": self._t(life.created),
            "ready": [[self._t(s), self._t(e)] for s, e in life.ready],
            "deleted": self._t(life.deleted),
            "stopSignal": self._t(stop.at) if stop is not None else None,
            # Every stop signal, the restarts' (liveness, startup) included.
            "stopSignals": [
                {"time": self._t(s.at), "container": s.container, "graceSeconds": round(s.timeout, 3)}
                for s in life.stop_signals
            ],
            "killed": self._t(kill.at) if kill is not None else None,
            "exits": [
                {"time": self._t(e.at), "container": e.container, "exitCode": e.exit_code, "killed": e.killed}
                for e in life.exits
            ],
            "gone": self._t(life.gone),
            "routedBy": {
                node: [[self._t(s), self._t(e)] for s, e in spans]
                for node, spans in sorted(life.routed.items())
            },
        }

    # --- text --------------------------------------------------------------------------------------

    def text(self) -> str:
        total, failed = len(self.requests), self.failed
        verdict = "INCOMPLETE" if self.incomplete is not None else "PASS" if self.passed else "FAIL"
        lines = [
            f"hitless verify: {verdict}: {failed} of {total} requests failed (allowed: {self.max_failures})",
        ]
        if self.incomplete is not None:
            lines.append(f"  incomplete: {self.incomplete}")
        lat = self.latencies_ms()
        lines.append(
            "  latency from the intended send time: " + "  ".join(f"{k} {_ms(v)}" for k, v in lat.items())
        )
        counts = Counter(f.cause for f in self.attribution.failures)
        if counts:
            lines.append("  failures by cause:")
            for cause, n in counts.most_common():
                where = Counter(
                    f"{(f.pod or '-').split('/')[-1]}@{f.node or '-'} ({f.phase or '-'})"
                    for f in self.attribution.failures
                    if f.cause == cause
                )
                top = ", ".join(f"{k} ×{v}" for k, v in where.most_common(3))
                note = "  (clients that retry would not see these)" if cause == KEEPALIVE_RESET else ""
                lines.append(f"    {cause:<25} {n:>6}   {top}{note}")
        if self.findings:
            lines.append("  findings:")
            for finding in self.findings:
                target = " ".join(x for x in (finding.object, finding.field) if x)
                value = f": {finding.value}" if finding.value is not None else ""
                if target:
                    lines.append(f"    {target}{value}")
                lines.append(f"      {finding.message}" if target else f"    {finding.message}")
        return "\n".join(lines) + "\n"

    # --- junit -------------------------------------------------------------------------------------

    def junit(self) -> str:
        """One test case for the verdict, one per cause of failure. Within ``--max-failures`` the
        causes are reported as output, not failures: CI reads the same verdict as the exit code."""
        counts = Counter(f.cause for f in self.attribution.failures)
        suite = ET.Element(
            "testsuite",
            name="hitless verify",
            tests=str(1 + len(counts)),
            failures=str(0 if self.passed else 1 + len(counts)),
            errors="0",
        )
        case = ET.SubElement(suite, "testcase", classname="hitless.verify", name="no request dropped")
        if not self.passed:
            summary = f"{self.failed} of {len(self.requests)} failed (allowed {self.max_failures})"
            if self.incomplete is not None:
                summary = f"incomplete: {self.incomplete}; {summary}"
            failure = ET.SubElement(case, "failure", message=summary)
            failure.text = self.text()
        by_cause = {f.cause: f for f in self.findings}
        for cause, n in counts.most_common():
            cause_case = ET.SubElement(suite, "testcase", classname="hitless.verify.cause", name=cause)
            finding = by_cause.get(cause)
            text = finding.message if finding is not None else ""
            if self.passed:
                ET.SubElement(cause_case, "system-out").text = f"{n} requests failed: {cause}. {text}"
            else:
                failure = ET.SubElement(cause_case, "failure", message=f"{n} requests failed: {cause}")
                failure.text = text
        # Wrapped as `hitless check --format junit` is: one file layout for both in CI.
        suites = ET.Element(
            "testsuites",
            name="hitless verify",
            tests=suite.get("tests", "0"),
            failures=suite.get("failures", "0"),
        )
        suites.append(suite)
        ET.indent(suites)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _connection(request: RequestResult | None) -> dict[str, Any]:
    """The client side of the failed request's connection, as the proxies' records name it."""
    if request is None:
        return {"connection": None, "reused": None}
    client = f"{request.client[0]}:{request.client[1]}" if request.client is not None else None
    return {"connection": client, "reused": request.reused}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
