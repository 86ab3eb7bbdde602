"""One accepted connection to one upstream address: dial it, then relay; shared by each node's
proxy and the load balancer.

A chain of loop callbacks, not a task: a non-blocking ``connect`` watched with ``add_writer``
and a ``call_later`` timeout, then ``Relay.start``. Only a pod IP, whose socket is made by the
pod sandbox's thread, awaits that socket in a small task first.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from hitless.clock import Clock
from hitless.proxy.records import ConnectionLog, ConnectionRecord, Outcome
from hitless.proxy.relay import Relay, reset
from hitless.runtime.network import PodNetwork
from hitless.tasks import guarded

# Linux: bind() takes the source address only; the port is chosen at connect() per destination,
# so SNAT to one node address is not limited to one ephemeral range across all pods.
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


class DialOptions(Protocol):
    @property
    def connect_timeout(self) -> float: ...
    @property
    def unreachable_after(self) -> float: ...


def forward(
    network: PodNetwork,
    clock: Clock,
    options: DialOptions,
    log: ConnectionLog,
    conn: socket.socket,
    ip: str,
    port: int,
    source: str,
    record: ConnectionRecord,
    spawn: Callable[[Coroutine[Any, Any, None]], object],
    component: str = "proxy",
) -> None:
    """Relay ``conn`` to ``ip:port`` from ``source``; on a failed dial, reset ``conn``. Either
    way ``log.closed(record)`` is called once the connection is over. An unexpected exception
    in one of the connection's loop callbacks is ``component``'s failure (hitless.tasks)."""

    def dialled(upstream: socket.socket | None) -> None:
        if upstream is None:
            reset(conn)
            record.closed_at = clock.now()
            log.closed(record)
            return
        Relay(record, clock.now, lambda: log.closed(record), component).start(conn, upstream)

    dial(network, clock, ip, port, source, record, options, dialled, spawn, component)


def dial(
    network: PodNetwork,
    clock: Clock,
    ip: str,
    port: int,
    source: str,
    record: ConnectionRecord,
    options: DialOptions,
    done: Callable[[socket.socket | None], None],
    spawn: Callable[[Coroutine[Any, Any, None]], object],
    component: str = "proxy",
) -> None:
    """Connect to ``ip:port`` from ``source`` (inside the pod's network namespace for a pod IP)
    and call ``done`` with the socket; on failure set the record's outcome and call ``done(None)``."""

    def fail(outcome: Outcome, error: str) -> None:
        record.outcome, record.error = outcome, error
        done(None)

    if network.is_gone_pod(ip):
        # The pod's network is gone: nothing answers, the connect would hang until ARP gave up.
        clock.call_later(
            options.unreachable_after,
            guarded(component, lambda: fail("upstream-timeout", "no route to host")),
        )
        return
    try:
        sock = network.socket_now(ip, port, socket.AF_INET)
    except Exception as exc:
        fail("upstream-timeout", str(exc))
        return
    if sock is not None:
        _connect(sock, clock, ip, port, source, record, options, done, component)
        return

    async def pod_socket() -> None:
        try:
            made = await network.new_socket(ip, port, socket.AF_INET)
        except Exception as exc:  # the sandbox went away between the check and the call
            fail("upstream-timeout", str(exc))
            return
        _connect(made, clock, ip, port, source, record, options, done, component)

    spawn(pod_socket())


def _connect(
    sock: socket.socket,
    clock: Clock,
    ip: str,
    port: int,
    source: str,
    record: ConnectionRecord,
    options: DialOptions,
    done: Callable[[socket.socket | None], None],
    component: str,
) -> None:
    loop = asyncio.get_running_loop()

    def finish(err: int) -> None:
        if err == 0:
            record.upstream = sock.getsockname()[:2]
            record.connected_at = clock.now()
            record.outcome = "routed"
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            done(sock)
            return
        sock.close()
        if err == errno.ECONNREFUSED:
            record.outcome, record.error = "upstream-refused", "connection refused"
        elif err == errno.ECONNRESET:
            record.outcome, record.error = "upstream-reset", "connection reset by peer"
        elif err == errno.ETIMEDOUT:
            record.outcome, record.error = "upstream-timeout", "i/o timeout"
        else:
            record.outcome, record.error = "upstream-refused", os.strerror(err)
        done(None)

    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind((source, 0))
        err = sock.connect_ex((ip, port))
    except OSError as exc:
        finish(exc.errno or errno.EINVAL)
        return
    if err not in (errno.EINPROGRESS, errno.EAGAIN, errno.EINTR):
        finish(err)
        return
    fd = sock.fileno()

    def writable() -> None:
        loop.remove_writer(fd)
        timer.cancel()
        finish(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))

    def timed_out() -> None:
        loop.remove_writer(fd)
        finish(errno.ETIMEDOUT)

    loop.add_writer(fd, guarded(component, writable))
    timer = clock.call_later(options.connect_timeout, guarded(component, timed_out))
