"""The demo app's life: start-up, signals, the drain, the children and the exit."""

from __future__ import annotations

import asyncio
import os
import signal
import socket

from hitless import __version__
from hitless.demo.children import Children
from hitless.demo.conns import ConnServer
from hitless.demo.log import log, uptime
from hitless.demo.options import Options
from hitless.demo.routes import State
from hitless.demo.server import HttpServer


def pod_name() -> str:
    # POD_NAME is what manifests set through the downward API; the kubelet sets HOSTNAME to the
    # pod's name; outside both, the machine's name.
    return os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()


class App:
    def __init__(self, opts: Options, origin: float) -> None:
        self.opts = opts
        self.state = State(opts, pod_name(), self.finish)
        # One HTTP server for the plain and the TLS ports: the same endpoints, drained together.
        self.server = HttpServer(self.state, opts.request_log, opts.keep_alive_during_drain)
        self.grpc: ConnServer | None = None
        if opts.grpc_ports:
            from hitless.demo.grpc_health import GrpcServer  # h2 only when asked for

            self.grpc = GrpcServer(self.state, opts.grpc_services, opts.request_log)
        self.servers = [self.server] if self.grpc is None else [self.server, self.grpc]
        self.children = Children(opts.children, opts.child_cleanup, origin)
        self._done: asyncio.Future[int] | None = None
        self._listening: asyncio.Task[None] | None = None
        self._draining: asyncio.Task[None] | None = None

    def finish(self, code: int, why: str) -> None:
        """Ask the app to exit with ``code``; the first request wins."""
        if self._done is not None and not self._done.done():
            log(f"exiting with code {code}: {why}")
            self._done.set_result(code)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        o = self.opts
        pid1 = "PID 1 of its PID namespace" if os.getpid() == 1 else "not PID 1"
        log(f"hitless demo-app {__version__}: pid {os.getpid()} ({pid1}), pod {self.state.pod}")
        log(
            f"on-sigterm={o.on_sigterm} shutdown-delay={o.shutdown_delay:g}s "
            f"drain-timeout={o.drain_timeout:g}s healthz={o.healthz.text} readyz={o.readyz.text} "
            f"startupz={o.startupz.text} latency={o.latency}"
        )
        if o.tls_ports:
            log(f"tls: certificate {o.tls_cert or 'the test-only hitless-demo one (self-signed)'}")
        if o.grpc_ports:
            follows = o.grpc_health if isinstance(o.grpc_health, str) else o.grpc_health.text
            names = ", ".join(repr(s) for s in ["", *o.grpc_services])
            log(f"grpc health: {follows}; services {names}")
        self._install_signal_handlers(loop)
        self.children.start()
        if o.exit_after is not None:
            why = f"--exit-after {o.exit_after:g}s"
            loop.call_later(max(0.0, o.exit_after - uptime()), self.finish, o.exit_code, why)
        self._listening = asyncio.create_task(self._listen())
        code = await self._done
        await self._stop()
        log(f"exit {code}")
        return code

    async def _listen(self) -> None:
        wait = self.opts.startup_delay - uptime()
        if wait > 0:
            log(f"startup delay: listening in {wait:.3f}s")
            await asyncio.sleep(wait)
        o = self.opts
        try:
            await self.server.listen(o.address, o.ports)
            await self.server.listen(o.address, o.tls_ports, "https", o.tls_context)
            if self.grpc is not None:
                await self.grpc.listen(o.address, o.grpc_ports, "grpc")
        except OSError as e:
            ports = [*o.ports, *o.tls_ports, *o.grpc_ports]
            log(f"cannot listen on {o.address} port(s) {ports}: {e}")
            self.finish(1, "listening failed")

    def _install_signal_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        if self.opts.on_sigterm == "default":
            # Explicitly the default: an ignored SIGTERM is inherited across exec, and this mode
            # exists to show the kernel's own behaviour (fatal, but ignored for PID 1).
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            note = "ignored by the kernel: PID 1" if os.getpid() == 1 else "fatal"
            log(f"SIGTERM: no handler, the kernel's default action ({note})")
        else:
            loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)

    def _on_sigint(self) -> None:
        log("SIGINT received")
        self.finish(130, "SIGINT")

    def _on_sigterm(self) -> None:
        mode = self.opts.on_sigterm
        if mode == "ignore":
            log("SIGTERM received: ignored (--on-sigterm ignore)")
        elif mode == "exit":
            log("SIGTERM received (--on-sigterm exit)")
            self.finish(self.opts.sigterm_exit_code, "SIGTERM")
        elif self._draining is not None:
            log("SIGTERM received again: already draining")
        else:
            self._draining = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        o = self.opts
        self.state.draining = True
        ready = "unchanged (--keep-ready-on-sigterm)" if o.keep_ready_on_sigterm else "failing"
        closing = "kept alive" if o.keep_alive_during_drain else "closed after each answer"
        log(
            f"SIGTERM received: draining; readyz {ready}; serving for --shutdown-delay "
            f"{o.shutdown_delay:g}s, connections {closing}"
        )
        if o.shutdown_delay > 0:
            await asyncio.sleep(o.shutdown_delay)
        if self._listening is not None and not self._listening.done():
            self._listening.cancel()  # still in its startup delay: never listen
        for server in self.servers:
            server.close_listeners()
        idle = sum(server.close_idle() for server in self.servers)
        in_flight = sum(server.in_flight() for server in self.servers)
        log(
            f"drain: listeners closed, {idle} idle connection(s) closed, waiting up to "
            f"{o.drain_timeout:g}s for {in_flight} in-flight request(s)"
        )
        left = sum(await asyncio.gather(*(s.wait_closed(o.drain_timeout) for s in self.servers)))
        if left:
            log(f"drain: timeout after {o.drain_timeout:g}s, dropping {left} connection(s)")
        else:
            log("drain: all connections finished")
        self.finish(o.sigterm_exit_code, "drained after SIGTERM")

    async def _stop(self) -> None:
        if self._listening is not None:
            self._listening.cancel()
        for server in self.servers:
            server.close_listeners()
        dropped = sum(server.close_all() for server in self.servers)
        if dropped:
            log(f"closed {dropped} open connection(s)")
        if not len(self.children):
            return
        if self.opts.orphan_children:
            log(
                f"leaving {len(self.children)} child(ren) without a signal (--orphan-children): "
                "they are SIGKILLed when this process exits"
            )
        else:
            await self.children.stop()


def run(opts: Options, origin: float) -> int:
    return asyncio.run(App(opts, origin).run())
