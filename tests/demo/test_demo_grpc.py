"""The gRPC health service of a real demo app, called by the canonical client: grpcio's HealthStub."""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import grpc  # type: ignore[import-untyped]
import h2.config
import h2.connection
import h2.events
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from hitless.demo.grpc_health import decode_service, encode_response, frame, percent_encode, unframe

from .helpers import DemoApp, wait_until

Start = Callable[..., DemoApp]
Check = Callable[..., str]


@pytest.fixture
def check() -> Iterator[Callable[[DemoApp], Check]]:
    """``check(app)("service")``: the ServingStatus name, or the gRPC status code's name."""
    channels: list[grpc.Channel] = []

    def connect(app: DemoApp) -> Check:
        channel = grpc.insecure_channel(f"127.0.0.1:{app.port_of('grpc')}")
        channels.append(channel)
        stub = health_pb2_grpc.HealthStub(channel)

        def call(service: str = "", timeout: float = 5.0) -> str:
            try:
                response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
            except grpc.RpcError as e:
                return f"{e.code().name}: {e.details()}"
            return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

        return call

    yield connect
    for channel in channels:
        channel.close()


def test_messages_match_protobufs_own_encoding() -> None:
    for status in range(4):
        assert encode_response(status) == health_pb2.HealthCheckResponse(status=status).SerializeToString()
    for service in ("", "db", "grpc.health.v1.Health", "ünïcode/☃"):
        wire = health_pb2.HealthCheckRequest(service=service).SerializeToString()
        assert decode_service(unframe(frame(wire))) == service
    # Unknown fields of every wire type are skipped, as a newer client may send them.
    assert decode_service(b"\x10\x96\x01\x19" + b"\x00" * 8 + b"\x25" + b"\x00" * 4 + b"\x0a\x01x") == "x"
    for bad in (b"\x0a\x05ab", b"\x0b", b"\x0a\x02\xff\xfe", b"\x10\x80"):
        with pytest.raises(ValueError):
            decode_service(bad)
    with pytest.raises(ValueError, match="compressed"):
        unframe(b"\x01\x00\x00\x00\x00")
    assert percent_encode("unknown service") == b"unknown service"
    assert percent_encode("100% ☃") == b"100%25 %E2%98%83"


def test_serving_then_not_serving_when_readiness_flips(
    demo: Start, check: Callable[[DemoApp], Check]
) -> None:
    app = demo("--grpc-port", "0", "--grpc-service", "db", "--grpc-service", "cache")
    call = check(app)
    assert call() == "SERVING"
    assert call("db") == call("cache") == "SERVING"
    assert app.request("/control/readyz?state=fail", "POST").status == 200
    assert call() == call("db") == "NOT_SERVING"  # named services answer as the server does
    snapshot = app.request("/control").json()["health"]["grpc"]  # type: ignore[index]
    assert snapshot == {"state": "fail", "because": "readyz: set by /control", "spec": "follows readyz"}
    assert app.request("/control/grpc?state=ok", "POST").status == 409  # follows readyz: flip that
    assert app.request("/control/readyz?state=auto", "POST").status == 200
    assert call() == "SERVING"
    app.wait_line(r'grpc 127\.0\.0\.1:\d+ "/grpc\.health\.v1\.Health/Check" service=\'db\' NOT_SERVING')


def test_unknown_service_and_watch_answer_like_grpc_go(
    demo: Start, check: Callable[[DemoApp], Check]
) -> None:
    app = demo("--grpc-port", "0", "--grpc-service", "db")
    call = check(app)
    assert call("other") == "NOT_FOUND: unknown service"
    stub = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{app.port_of('grpc')}"))
    with pytest.raises(grpc.RpcError) as raised:
        next(iter(stub.Watch(health_pb2.HealthCheckRequest(), timeout=5)))
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # Not HTTP/2: h2 refuses the preface with a GOAWAY (frame type 7) and the connection closes.
    with socket.create_connection(("127.0.0.1", app.port_of("grpc")), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    assert b"\x07\x00\x00\x00\x00\x00" in data  # GOAWAY on stream 0 after the server's SETTINGS
    socket.create_connection(("127.0.0.1", app.port_of("grpc")), timeout=5).close()  # a tcpSocket probe
    assert call() == "SERVING"  # the connection and the server carry on
    assert "error on connection" not in app.output


def test_other_methods_and_non_grpc_requests(demo: Start) -> None:
    app = demo("--grpc-port", "0")
    port = app.port_of("grpc")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.RpcError) as raised:
            channel.unary_unary("/grpc.health.v1.Health/List")(b"", timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # A plain HTTP/2 GET is not a gRPC call: an HTTP status, as the gRPC protocol spec asks.
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    client.initiate_connection()
    client.send_headers(
        1, [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")], end_stream=True
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(client.data_to_send())
        status = None
        while status is None and (data := s.recv(65536)):
            for event in client.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers or [])[b":status"]
            s.sendall(client.data_to_send())
    assert status == b"415"


def test_own_spec_hang_times_out_and_control_overrides(
    demo: Start, check: Callable[[DemoApp], Check]
) -> None:
    # Started first, so that its schedule runs while the rest of the test does.
    schedule = check(demo("--grpc-port", "0", "--grpc-health", "fail-after:2"))
    assert schedule() == "SERVING"
    app = demo("--grpc-port", "0", "--grpc-health", "hang", "--readyz", "fail")
    call = check(app)
    started = time.monotonic()
    assert call(timeout=0.5).startswith("DEADLINE_EXCEEDED")  # what the kubelet sees: a timeout
    assert 0.4 < time.monotonic() - started < 3
    app.wait_line(r"service='' hanging: will never answer \(hang\)")
    assert app.request("/control/grpc?state=ok", "POST").status == 200
    assert call() == "SERVING"  # its own spec, not /readyz's
    assert app.request("/control/grpc?state=fail", "POST").status == 200
    assert call() == "NOT_SERVING"
    assert wait_until(lambda: schedule() == "NOT_SERVING", 5)


def test_drain_reports_not_serving_then_closes(demo: Start, check: Callable[[DemoApp], Check]) -> None:
    app = demo("--grpc-port", "0", "--shutdown-delay", "0.8")
    call = check(app)
    assert call() == "SERVING"
    app.signal(signal.SIGTERM)
    app.wait_line("SIGTERM received: draining")
    assert call() == "NOT_SERVING"  # like grpc-go's health server after Shutdown()
    assert app.wait(10) == 0
    assert "drain: all connections finished" in app.output


def test_grpc_only_listens_on_no_http_port(demo: Start, check: Callable[[DemoApp], Check]) -> None:
    app = demo("--address", "127.0.0.1", "--grpc-port", "0", "--request-log", "app", listen=False)
    assert check(app)() == "SERVING"
    assert app.output.count("listening on") == 1  # no default :8080 beside an explicit gRPC port
    assert "grpc 127.0.0.1" not in app.output  # health checks are left out of the app's request log


def test_drain_waits_for_a_hanging_check_until_the_client_gives_up(
    demo: Start, check: Callable[[DemoApp], Check]
) -> None:
    app = demo("--grpc-port", "0", "--grpc-health", "hang", "--drain-timeout", "20")
    call = check(app)
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(call(timeout=1.5)), daemon=True)
    thread.start()
    app.wait_line("hanging: will never answer")
    app.signal(signal.SIGTERM)
    app.wait_line(r"waiting up to 20s for 1 in-flight request\(s\)")  # a stream counts as a request
    assert app.wait(10) == 0  # once the client's deadline reset the stream, not after 20 s
    thread.join(5)
    assert outcome and outcome[0].startswith("DEADLINE_EXCEEDED")
    assert "drain: all connections finished" in app.output
