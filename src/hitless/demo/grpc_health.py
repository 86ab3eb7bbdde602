"""``--grpc-port``: the standard gRPC health service, ``grpc.health.v1.Health/Check``, over h2c.

The kubelet's grpc probe, grpc-health-probe and grpcio's HealthStub all speak plaintext HTTP/2 with
prior knowledge. The service is small enough to write by hand: h2 frames HTTP/2, and the two
messages of grpc/health/v1/health.proto are encoded here instead of with protobuf and grpcio, which
would cost the app tens of MiB and most of a second of start-up:

    message HealthCheckRequest  { string service = 1; }
    message HealthCheckResponse { ServingStatus status = 1; }  // UNKNOWN 0, SERVING 1, NOT_SERVING 2

Answers follow grpc-go's health server: Check of an unknown service is the status NOT_FOUND
("unknown service"), not a SERVICE_UNKNOWN message (that is Watch's); Watch is UNIMPLEMENTED here.
Imported only when a gRPC port is asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from hitless.demo.conns import READ_SIZE, Conn, ConnServer, format_address
from hitless.demo.log import log
from hitless.demo.routes import State
from hitless.demo.specs import HANG, OK

CHECK = b"/grpc.health.v1.Health/Check"
WATCH = b"/grpc.health.v1.Health/Watch"
SERVING, NOT_SERVING = 1, 2
STATUS_NAMES = {0: "UNKNOWN", SERVING: "SERVING", NOT_SERVING: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
# gRPC status codes (grpc/codes): the ones this server answers with.
OK_CODE, NOT_FOUND, UNIMPLEMENTED, INTERNAL = 0, 5, 12, 13


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("truncated varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, i


def decode_service(message: bytes) -> str:
    """HealthCheckRequest.service; other fields are skipped, as protobuf parsers do."""
    service, i = "", 0
    while i < len(message):
        key, i = read_varint(message, i)
        field, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, i = read_varint(message, i)
        elif wire_type == 1:
            i += 8
        elif wire_type == 2:
            length, i = read_varint(message, i)
            if field == 1:
                service = message[i : i + length].decode()  # UnicodeDecodeError is a ValueError
            i += length
        elif wire_type == 5:
            i += 4
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        if i > len(message):
            raise ValueError("truncated field")
    return service


def encode_response(status: int) -> bytes:
    # proto3 leaves a field at its default (UNKNOWN, 0) out; statuses fit in one varint byte.
    return bytes((0x08, status)) if status else b""


def frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: not compressed (0), 4-byte big-endian length."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


def unframe(data: bytes) -> bytes:
    if len(data) < 5:
        raise ValueError("no request message")
    if data[0] != 0:
        raise ValueError("compressed messages are not supported")
    length = int.from_bytes(data[1:5], "big")
    if len(data) != 5 + length:
        raise ValueError("the request is not exactly one message")
    return data[5:]


def percent_encode(message: str) -> bytes:
    """grpc-message's encoding: printable ASCII except '%' as is, the rest as %XX of UTF-8."""
    return b"".join(
        bytes((b,)) if 0x20 <= b <= 0x7E and b != 0x25 else b"%%%02X" % b for b in message.encode()
    )


class _Stream:
    __slots__ = ("data", "headers", "started")

    def __init__(self, headers: dict[bytes, bytes]) -> None:
        self.headers, self.data, self.started = headers, bytearray(), time.monotonic()


class GrpcServer(ConnServer):
    def __init__(self, state: State, services: list[str], request_log: str) -> None:
        super().__init__()
        self._state = state
        self._services = {"", *services}
        self._request_log = request_log

    async def _serve(self, conn: Conn, reader: asyncio.StreamReader) -> None:
        h = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
        writer = conn.writer
        peer = format_address(writer.get_extra_info("peername") or ("", 0))

        def go_away() -> None:
            # Graceful: streams already received are still answered; the client opens no new one.
            # Called from the drain, which must go on if this connection has just closed.
            with contextlib.suppress(h2.exceptions.ProtocolError):
                h.close_connection()
            writer.write(h.data_to_send())

        conn.go_away = go_away
        streams: dict[int, _Stream] = {}  # being received
        hung: set[int] = set()  # received, never to be answered
        h.initiate_connection()
        if self._closing:
            go_away()
        writer.write(h.data_to_send())
        while True:
            conn.idle = not streams and not hung
            if conn.idle and self._closing:
                return
            data = await reader.read(READ_SIZE)
            if not data:
                return
            try:
                events = h.receive_data(data)
            except h2.exceptions.ProtocolError:
                # h2 queues a GOAWAY for a bad frame but not for a bad preface (an HTTP/1.1
                # client, a TLS handshake): say why before closing either way.
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    h.close_connection(h2.errors.ErrorCodes.PROTOCOL_ERROR)
                writer.write(h.data_to_send())
                return
            for event in events:
                if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                    streams[event.stream_id] = _Stream(dict(event.headers or []))
                elif isinstance(event, h2.events.DataReceived) and event.stream_id is not None:
                    if event.stream_id in streams:
                        streams[event.stream_id].data += event.data or b""
                    h.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id in streams:
                    conn.requests += 1
                    stream_id = event.stream_id
                    if not self._answer(h, stream_id, streams.pop(stream_id), peer):
                        hung.add(stream_id)
                elif isinstance(event, h2.events.StreamReset):
                    # The client gave up, e.g. its deadline passed on a hanging Check.
                    streams.pop(event.stream_id or 0, None)
                    hung.discard(event.stream_id or 0)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    writer.write(h.data_to_send())
                    return
            writer.write(h.data_to_send())
            await writer.drain()

    def _answer(self, h: h2.connection.H2Connection, stream_id: int, stream: _Stream, peer: str) -> bool:
        """Answer a complete request; False if it is to hang, unanswered."""
        path = stream.headers.get(b":path", b"")
        if stream.headers.get(b":method") != b"POST" or not stream.headers.get(
            b"content-type", b""
        ).startswith(b"application/grpc"):
            # Not a gRPC call: an HTTP answer, as the gRPC HTTP/2 protocol spec asks for.
            h.send_headers(stream_id, [(b":status", b"415")], end_stream=True)
            self._log(peer, path, "", "HTTP 415: not a gRPC request", stream)
            return True
        if path != CHECK:
            what = "Watch is not implemented" if path == WATCH else f"unknown method {path.decode()}"
            self._trailers_only(h, stream_id, UNIMPLEMENTED, what)
            self._log(peer, path, "", f"UNIMPLEMENTED: {what}", stream)
            return True
        try:
            service = decode_service(unframe(bytes(stream.data)))
        except ValueError as e:
            self._trailers_only(h, stream_id, INTERNAL, f"bad request: {e}")
            self._log(peer, path, "", f"INTERNAL: bad request: {e}", stream)
            return True
        if service not in self._services:
            self._trailers_only(h, stream_id, NOT_FOUND, "unknown service")
            self._log(peer, path, service, "NOT_FOUND: unknown service", stream)
            return True
        state, why = self._state.health("grpc")
        if state == HANG:
            self._log(peer, path, service, f"hanging: will never answer ({why})", stream)
            return False
        status = SERVING if state == OK else NOT_SERVING
        h.send_headers(stream_id, [(b":status", b"200"), (b"content-type", b"application/grpc")])
        h.send_data(stream_id, frame(encode_response(status)))
        h.send_headers(stream_id, [(b"grpc-status", b"0"), (b"grpc-message", b"")], end_stream=True)
        self._log(peer, path, service, f"{STATUS_NAMES[status]} ({why})", stream)
        return True

    @staticmethod
    def _trailers_only(h: h2.connection.H2Connection, stream_id: int, code: int, message: str) -> None:
        # An error carries no message: gRPC's "trailers-only" answer, one HEADERS frame.
        headers = [
            (b":status", b"200"),
            (b"content-type", b"application/grpc"),
            (b"grpc-status", str(code).encode()),
            (b"grpc-message", percent_encode(message)),
        ]
        h.send_headers(stream_id, headers, end_stream=True)

    def _log(self, peer: str, path: bytes, service: str, outcome: str, stream: _Stream) -> None:
        # gRPC health checks are health checks: --request-log app leaves them out too.
        if self._request_log != "all":
            return
        log(
            f'grpc {peer} "{path.decode(errors="replace")}" service={service!r} {outcome} '
            f"{time.monotonic() - stream.started:.3f}s"
        )
