"""Probe results, as pkg/probe (Result) and pkg/kubelet/prober/results (the cache) name them."""

from __future__ import annotations

import enum


class Result(enum.Enum):
    """What one probe attempt found (pkg/probe/probe.go)."""

    SUCCESS = "success"
    # A 3xx the HTTP prober did not follow: counted as Success, reported as a ProbeWarning Event.
    WARNING = "warning"
    FAILURE = "failure"
    UNKNOWN = "unknown"
