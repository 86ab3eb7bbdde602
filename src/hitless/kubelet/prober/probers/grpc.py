"""grpc probes: grpc.health.v1.Health/Check over plaintext HTTP/2 (pkg/probe/grpc/grpc.go).

As the kubelet runs it with grpc-go: one deadline of timeoutSeconds over a blocking dial (TCP, the
HTTP/2 prefaces, the server's SETTINGS; a failed attempt is retried after grpc-go's back-off, so an
unreachable port fails only when the deadline passes) and the unary call. SERVING is Success;
every other answer and every error is a Failure, in grpc.go's words. The call is written by hand
on the h2 state machine: a 5-byte gRPC frame around a protobuf HealthCheckRequest{service=1},
HealthCheckResponse{status=1} read back from the data, grpc-status and grpc-message from the
trailers (or from a Trailers-Only response). h2 is imported only when a grpc probe runs.
"""

from __future__ import annotations

import asyncio
import random
import struct
import urllib.parse
from http import HTTPStatus
from typing import TYPE_CHECKING

from hitless import KUBERNETES_VERSION
from hitless.api.gofmt import quote
from hitless.api.types.pod import Probe
from hitless.kubelet.format import go_duration
from hitless.kubelet.prober.probers.base import ProbeOutcome, ProberDeps, ProbeTarget
from hitless.kubelet.prober.probers.tcp import Conn, Dialer, GoError, join_host_port
from hitless.kubelet.prober.results import Result

if TYPE_CHECKING:
    from h2.connection import H2Connection

# grpc.WithUserAgent appends grpc-go's own; the version Kubernetes 1.34 vendors.
USER_AGENT = f"kube-probe/{KUBERNETES_VERSION} grpc-go/1.72.1"
METHOD = "/grpc.health.v1.Health/Check"
STATUSES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
CODES = [
    *("OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists"),
    *("PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange"),
    *("Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"),
]
UNIMPLEMENTED, DEADLINE_EXCEEDED = 12, 4
# grpc-go: an HTTP status instead of gRPC's (HTTPStatusConvTab), and RST_STREAM codes.
HTTP_STATUS_CODES = {400: 13, 401: 16, 403: 7, 404: 12, 429: 14, 502: 14, 503: 14, 504: 14}
RST_CODES = {3: 8, 7: 14, 8: 1, 11: 8, 12: 7}  # others: Internal
# grpc-go's reconnect back-off (backoff.DefaultConfig).
BACKOFF_BASE, BACKOFF_MULTIPLIER, BACKOFF_JITTER, BACKOFF_MAX = 1.0, 1.6, 0.2, 120.0


class RPCError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"rpc error: code = {code_name(code)} desc = {message}")
        self.code, self.message = code, message


def code_name(code: int) -> str:
    return CODES[code] if 0 <= code < len(CODES) else f"Code({code})"


class GRPCProber:
    def __init__(self, deps: ProberDeps) -> None:
        self._dialer = Dialer(deps.network)

    async def probe(self, probe: Probe, target: ProbeTarget, timeout: float) -> ProbeOutcome:
        action = probe.grpc
        assert action is not None
        try:
            import h2.connection  # noqa: F401  (only here: other probes do not pay for it)
        except ImportError:
            return ProbeOutcome(Result.UNKNOWN, error="grpc probes need the h2 package (pip install h2)")
        addr = join_host_port(target.pod_ip, action.port)
        within = duration(timeout)
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                conn, h2c = await self._connect(target.pod_ip, action.port)
        except TimeoutError:
            message = f"timeout: failed to connect service {quote(addr)} within {within}"
            return ProbeOutcome(Result.FAILURE, f"{message}: context deadline exceeded")
        try:
            async with asyncio.timeout_at(deadline):
                status = await _check(conn, h2c, addr, action.service or "", deadline)
        except TimeoutError:
            return ProbeOutcome(Result.FAILURE, f"timeout: health rpc did not complete within {within}")
        except RPCError as exc:
            if exc.code == UNIMPLEMENTED:
                return ProbeOutcome(
                    Result.FAILURE,
                    "error: this server does not implement the grpc health protocol "
                    f"(grpc.health.v1.Health): {exc.message}",
                )
            if exc.code == DEADLINE_EXCEEDED:
                return ProbeOutcome(Result.FAILURE, f"timeout: health rpc did not complete within {within}")
            return ProbeOutcome(Result.FAILURE, f"error: health rpc probe failed: {exc}")
        finally:
            _close(conn, h2c)
        if status != 1:
            name = STATUSES.get(status, str(status))
            return ProbeOutcome(Result.FAILURE, f"service unhealthy (responded with {quote(name)})")
        return ProbeOutcome(Result.SUCCESS, "service healthy")

    async def _connect(self, host: str, port: int) -> tuple[Conn, H2Connection]:
        """grpc.DialContext with WithBlock: until the connection is READY; cancelled by the deadline."""
        from h2.config import H2Configuration
        from h2.connection import H2Connection
        from h2.events import RemoteSettingsChanged
        from h2.exceptions import ProtocolError

        delay = BACKOFF_BASE
        while True:
            conn: Conn | None = None
            try:
                conn = Conn(await self._dialer.dial(host, port), join_host_port(host, port))
                h2c = H2Connection(H2Configuration(client_side=True, header_encoding="utf-8"))
                h2c.initiate_connection()
                await conn.send(h2c.data_to_send())
                while not any(
                    isinstance(e, RemoteSettingsChanged) for e in h2c.receive_data(await _recv(conn))
                ):
                    pass
                return conn, h2c
            except (GoError, ProtocolError):
                if conn is not None:
                    conn.close()
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            await asyncio.sleep(delay * random.uniform(1 - BACKOFF_JITTER, 1 + BACKOFF_JITTER))
            delay = min(delay * BACKOFF_MULTIPLIER, BACKOFF_MAX)


async def _recv(conn: Conn) -> bytes:
    data = await conn.recv()
    if not data:
        raise GoError("EOF")
    return data


async def _check(conn: Conn, h2c: H2Connection, addr: str, service: str, deadline: float) -> int:
    """The unary call; the HealthCheckResponse status, or RPCError."""
    from h2 import events
    from h2.exceptions import ProtocolError

    stream = h2c.get_next_available_stream_id()
    remaining = deadline - asyncio.get_running_loop().time()
    h2c.send_headers(
        stream,
        [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", METHOD),
            (":authority", addr),
            ("content-type", "application/grpc"),
            ("user-agent", USER_AGENT),
            ("te", "trailers"),
            ("grpc-timeout", encode_timeout(remaining)),
        ],
    )
    request = b"\x0a" + _varint(len(service.encode())) + service.encode() if service else b""
    h2c.send_data(stream, b"\x00" + struct.pack(">I", len(request)) + request, end_stream=True)
    headers: dict[str, str] = {}
    trailers: dict[str, str] | None = None
    body = bytearray()
    ended = False
    try:
        await conn.send(h2c.data_to_send())
        while not ended:
            for event in h2c.receive_data(await _recv(conn)):
                if isinstance(event, events.ResponseReceived):
                    headers = {str(k): str(v) for k, v in event.headers}
                elif isinstance(event, events.TrailersReceived):
                    trailers = {str(k): str(v) for k, v in event.headers}
                elif isinstance(event, events.DataReceived):
                    body += event.data
                    h2c.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, events.StreamReset):
                    code = int(event.error_code)
                    name = getattr(event.error_code, "name", str(code))
                    raise RPCError(
                        RST_CODES.get(code, 13), f"stream terminated by RST_STREAM with error code: {name}"
                    )
                elif isinstance(event, events.ConnectionTerminated) and not ended:
                    raise RPCError(14, "error reading from server: EOF")
                ended = ended or isinstance(event, events.StreamEnded)
            if pending := h2c.data_to_send():
                await conn.send(pending)
    except GoError as exc:
        raise RPCError(14, f"error reading from server: {exc}") from exc
    except ProtocolError as exc:
        raise RPCError(14, f"connection error: desc = {exc}") from exc
    return _status(headers, trailers, bytes(body))


def _status(headers: dict[str, str], trailers: dict[str, str] | None, body: bytes) -> int:
    http_status = int(headers.get(":status", "0") or 0)
    if http_status != 200:
        try:
            text = HTTPStatus(http_status).phrase
        except ValueError:
            text = ""
        message = f"unexpected HTTP status code received from server: {http_status} ({text})"
        raise RPCError(HTTP_STATUS_CODES.get(http_status, 2), message)
    final = trailers if trailers is not None else headers  # Trailers-Only: all in one HEADERS
    if "grpc-status" not in final:
        raise RPCError(13, "server closed the stream without sending trailers")
    code = int(final["grpc-status"])
    if code != 0:
        raise RPCError(code, urllib.parse.unquote(final.get("grpc-message", "")))
    if len(body) < 5 or body[0] != 0 or len(body) < 5 + struct.unpack(">I", body[1:5])[0]:
        raise RPCError(13, "grpc: failed to unmarshal the received message: unexpected EOF")
    try:
        return _decode_status(body[5 : 5 + struct.unpack(">I", body[1:5])[0]])
    except (IndexError, ValueError):
        raise RPCError(
            13, "grpc: failed to unmarshal the received message: proto: cannot parse invalid wire-format data"
        ) from None


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not byte & 0x80:
            return value, i


def _decode_status(message: bytes) -> int:
    """HealthCheckResponse.status (field 1, an enum); other fields skipped, as protobuf does."""
    status, i = 0, 0
    while i < len(message):
        key, i = _read_varint(message, i)
        wire_type = key & 7
        if wire_type == 0:
            value, i = _read_varint(message, i)
            if key >> 3 == 1:
                status = value - (1 << 64) if value >= 1 << 63 else value
        elif wire_type == 2:
            length, i = _read_varint(message, i)
            i += length
        elif wire_type in (1, 5):
            i += 8 if wire_type == 1 else 4
        else:
            raise ValueError(wire_type)
        if i > len(message):
            raise ValueError("truncated")
    return status


def _close(conn: Conn, h2c: H2Connection) -> None:
    """grpc-go closes with a GOAWAY; sent if the socket takes it at once, never waited for."""
    try:
        h2c.close_connection(additional_data=b"client transport shutdown")
        conn.sock.send(h2c.data_to_send())
    except Exception:  # a connection being torn down may refuse anything
        pass
    conn.close()


def encode_timeout(seconds: float) -> str:
    """grpc-go encodeTimeout: the smallest unit whose count fits in 8 digits, rounded up."""
    ns = int(seconds * 1e9)
    if ns <= 0:
        return "0n"
    for unit, size in (("n", 1), ("u", 1_000), ("m", 1_000_000), ("S", 10**9), ("M", 60 * 10**9)):
        count = -(-ns // size)
        if count <= 99_999_999:
            return f"{count}{unit}"
    return f"{-(-ns // (3600 * 10**9))}H"


def duration(seconds: float) -> str:
    """time.Duration's String(), sub-second units included (300ms)."""
    if seconds >= 1 or seconds <= 0:
        return go_duration(seconds)
    ns = round(seconds * 1e9)
    for unit, size in (("ms", 1_000_000), ("µs", 1_000)):
        if ns >= size:
            return f"{ns / size:.6f}".rstrip("0").rstrip(".") + unit
    return f"{ns}ns"
