"""The flag languages and the command line, without starting a server."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from hitless.demo.options import parse_options
from hitless.demo.server import parse_query
from hitless.demo.specs import parse_duration, parse_health, parse_latency


@pytest.mark.parametrize(("text", "seconds"), [("1.5", 1.5), ("2s", 2.0), ("200ms", 0.2), ("0", 0.0)])
def test_durations_accept_units(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "-1", "abc", "inf", "nan", "1m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("spec", "timeline"),
    [
        ("ok", [(0, "ok"), (1e6, "ok")]),
        ("fail", [(0, "fail"), (1e6, "fail")]),
        ("hang", [(0, "hang")]),
        ("fail-after:10", [(0, "ok"), (9.99, "ok"), (10, "fail"), (1e6, "fail")]),
        ("hang-after:500ms", [(0.4, "ok"), (0.5, "hang")]),
        ("ok-after:5", [(0, "fail"), (4.9, "fail"), (5, "ok"), (1e6, "ok")]),
        ("fail-for:3@10", [(9.9, "ok"), (10, "fail"), (12.9, "fail"), (13, "ok")]),
        ("fail-for:3", [(0, "fail"), (2.9, "fail"), (3, "ok")]),
        ("hang-for:1s@2s", [(1.9, "ok"), (2.5, "hang"), (3, "ok")]),
    ],
)
def test_health_specs_follow_their_timeline(spec: str, timeline: list[tuple[float, str]]) -> None:
    parsed = parse_health(spec)
    assert parsed.text == spec
    assert [(t, parsed.state_at(t)) for t, _ in timeline] == timeline


@pytest.mark.parametrize(
    "spec", ["sometimes", "fail-after", "fail-after:x", "ok-for:1", "fail-for:1@x", "ok:1"]
)
def test_bad_health_specs_explain_the_grammar(spec: str) -> None:
    with pytest.raises(ValueError, match=r"unknown health spec|not a duration"):
        parse_health(spec)


def test_latency_fixed_and_uniform() -> None:
    assert parse_latency("0.2").sample() == pytest.approx(0.2)
    assert str(parse_latency("200ms")) == "0.2"
    spread = parse_latency("50ms:0.2")
    samples = [spread.sample() for _ in range(200)]
    assert all(0.05 <= s <= 0.2 for s in samples)
    assert max(samples) - min(samples) > 0.05  # a distribution, not a constant
    assert str(spread) == "0.05:0.2"
    with pytest.raises(ValueError, match="upper bound"):
        parse_latency("0.2:0.1")


def test_query_strings() -> None:
    assert parse_query("") == {}
    assert parse_query("state=fail&latency=0.5") == {"state": "fail", "latency": "0.5"}
    assert parse_query("msg=a%20b+c&flag") == {"msg": "a b c", "flag": ""}


def test_options_defaults_and_flags() -> None:
    o = parse_options([])
    assert (o.ports, o.address, o.on_sigterm, o.drain_timeout) == ([8080], "0.0.0.0", "drain", 30.0)
    assert o.exit_after is None
    assert math.isinf(o.readyz.start)
    o = parse_options(
        [
            "-p",
            "80",
            "--http-port",
            "81",
            "--bind",
            "127.0.0.1",
            "--delay-shutdown",
            "2s",
            "--readyz",
            "fail-after:3",
            "--on-sigterm",
            "ignore",
            "--latency",
            "10ms:20ms",
        ]
    )
    assert (o.ports, o.address, o.shutdown_delay, o.on_sigterm) == ([80, 81], "127.0.0.1", 2.0, "ignore")
    assert o.readyz.state_at(3) == "fail"
    assert (o.latency.low, o.latency.high) == (0.01, 0.02)


def test_options_of_the_tls_and_grpc_ports() -> None:
    o = parse_options(["--grpc-port", "9090"])
    assert (o.ports, o.grpc_ports, o.tls_ports, o.tls_context) == ([], [9090], [], None)  # no :8080
    assert (o.grpc_health, o.grpc_services) == ("readyz", [])
    o = parse_options(["-p", "80", "--grpc-port", "1", "--grpc-health", "healthz", "--grpc-service", "a"])
    assert (o.ports, o.grpc_health, o.grpc_services) == ([80], "healthz", ["a"])
    spec = parse_options(["--grpc-port", "1", "--grpc-health", "fail-after:2"]).grpc_health
    assert not isinstance(spec, str)
    assert spec.state_at(2) == "fail"
    o = parse_options(["--tls-port", "8443", "--https-port", "8444"])
    assert (o.ports, o.tls_ports) == ([], [8443, 8444])
    assert o.tls_context is not None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hitless", "demo-app", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=20)


def test_help_documents_every_knob_and_version_prints() -> None:
    out = _cli("--help")
    assert out.returncode == 0
    for word in [
        "--startup-delay",
        "--readyz",
        "--on-sigterm",
        "--shutdown-delay",
        "--drain-timeout",
        "--latency",
        "--children",
        "--orphan-children",
        "--exit-after",
        "/control/NAME",
        "fail-for:D[@M]",
        "PID 1",
        "--tls-port",
        "--tls-cert",
        "--grpc-port",
        "--grpc-health",
        "--grpc-service",
        "/redirect-chain",
        "/headers",
        "/big",
    ]:
        assert word in out.stdout
    version = _cli("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("hitless demo-app ")


def test_bad_flags_exit_2_with_the_reason() -> None:
    out = _cli("--readyz", "sometimes")
    assert out.returncode == 2
    assert "unknown health spec 'sometimes'" in out.stderr
    out = _cli("--grpc-health", "sometimes")
    assert out.returncode == 2
    assert "unknown health spec 'sometimes'" in out.stderr
    out = _cli("--port", "70000")
    assert out.returncode == 2
    assert "out of range" in out.stderr
