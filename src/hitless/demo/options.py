"""The demo app's flags: argparse, with the help text that docs/demo-app.md mirrors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from hitless import __version__
from hitless.demo.specs import (
    HEALTH_GRAMMAR,
    HealthSpec,
    Latency,
    parse_duration,
    parse_health,
    parse_latency,
)

if TYPE_CHECKING:
    import ssl

T = TypeVar("T")

SIGTERM_MODES = ("drain", "exit", "ignore", "default")
REQUEST_LOG_MODES = ("all", "app", "none")
GRPC_FOLLOWS = ("readyz", "healthz", "startupz")

DESCRIPTION = """\
The test workload of hitless, in the spirit of Kubernetes' e2e 'agnhost netexec': an HTTP/1.1
server (keep-alive, 'Connection: close' honoured; also over TLS, and a gRPC health service) whose
startup, health endpoints, SIGTERM handling, drain and latency are set by flags, and whose health
can be flipped at run time."""

EPILOG = f"""\
endpoints (on every HTTP and HTTPS port):
  GET  /, /echo            JSON: pod name, pid, peer and local address, method, path, headers, time
  GET  /hostname           the pod name, as plain text (agnhost compatible)
  GET  /clientip           the peer as ip:port, as plain text (agnhost compatible)
  GET  /delay/S            like /echo, answered after S seconds instead of --latency
  GET  /healthz, /livez    liveness:  200 'ok', or 503 when failing, or no answer when hanging
  GET  /readyz             readiness: same; fails from SIGTERM on unless --keep-ready-on-sigterm
  GET  /startupz, /started startup:   same
  GET  /control            JSON: the current state of every knob
  POST /control/NAME?state=ok|fail|hang|auto
                           override healthz, readyz or startupz (auto: back to its SPEC)
  POST /control/grpc?state=ok|fail|hang|auto
                           override the gRPC health (with a --grpc-health SPEC of its own)
  POST /control/latency?value=LATENCY
                           change --latency for the app endpoints
  ANY  /exit?code=N        answer, then exit with code N (default 0), like a crash
  GET  /redirect?to=URL&code=302[&port=P&scheme=https][&no-location=1]
                           a redirect (any 3xx) to URL; port/scheme: same host, that port/scheme
  GET  /redirect-chain?n=N&to=/healthz
                           N redirects in a row on this host, the last one to 'to'
  GET  /headers            the request's headers as received: in order, repeats, original case
  GET  /big?size=N         200 with an N-byte body (default 65536): beyond a probe's 10 KiB
  Any endpoint but /control takes ?latency=LATENCY to delay that one answer, and the app
  endpoints, /headers and /big take ?code=N to answer with that status. Unknown paths answer 404.

gRPC (--grpc-port): grpc.health.v1.Health/Check over plaintext HTTP/2, as the kubelet's grpc probe
calls it: SERVING, NOT_SERVING or no answer per --grpc-health; unknown services NOT_FOUND.

{HEALTH_GRAMMAR}

LATENCY is seconds (0.2, 200ms) or a uniform range LOW:HIGH (0.05:0.2).

SIGTERM (--on-sigterm):
  drain    fail /readyz and the gRPC health, keep serving --shutdown-delay s (answers carry
           'Connection: close' unless --keep-alive-during-drain), close the listeners and the
           idle connections, finish in-flight requests (at most --drain-timeout s, answered with
           'Connection: close'; gRPC: GOAWAY), stop the children, exit --sigterm-exit-code
  exit     stop the children and exit --sigterm-exit-code at once
  ignore   log it and carry on (a handler that ignores it: works whether PID 1 or not)
  default  no handler: the kernel's default action, which kills the process, unless it is
           PID 1 of its PID namespace, where the kernel ignores the signal
SIGINT always stops the children and exits 130.

Every phase and, unless --request-log none, every request is logged on stdout, one line each."""


class Options(argparse.Namespace):
    """The parsed flags, typed; argparse fills them in and holds the defaults."""

    ports: list[int]
    tls_ports: list[int]
    tls_cert: str | None
    tls_key: str | None
    tls_context: ssl.SSLContext | None
    grpc_ports: list[int]
    grpc_health: str | HealthSpec
    grpc_services: list[str]
    address: str
    startup_delay: float
    healthz: HealthSpec
    readyz: HealthSpec
    startupz: HealthSpec
    keep_ready_on_sigterm: bool
    keep_alive_during_drain: bool
    on_sigterm: str
    shutdown_delay: float
    drain_timeout: float
    sigterm_exit_code: int
    latency: Latency
    children: int
    child_cleanup: float
    orphan_children: bool
    exit_after: float | None
    exit_code: int
    request_log: str


def _arg(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Wrap a parser so that argparse shows its message (it hides a plain ValueError's)."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return convert


def _int_in(text: str, low: int, high: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"not {what}: {text!r}") from None
    if not low <= value <= high:
        raise ValueError(f"{what} {value} out of range {low}-{high}")
    return value


def _port(text: str) -> int:
    return _int_in(text, 0, 65535, "a port")


def _grpc_health(text: str) -> str | HealthSpec:
    return text if text in GRPC_FOLLOWS else parse_health(text)


def _count(text: str) -> int:
    return _int_in(text, 0, 1000, "a count")


def _exit_code(text: str) -> int:
    return _int_in(text, 0, 255, "an exit code")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        # argparse builds a formatter for every add_argument, and without a width each one imports
        # shutil to ask for the terminal's: a cost paid at every start, for a help rarely printed.
        try:
            width = os.get_terminal_size(sys.stdout.fileno()).columns - 2
        except (OSError, ValueError):
            width = 98
        super().__init__(prog, max_help_position=30, width=max(60, min(width, 118)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitless demo-app",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    duration, health, latency = _arg(parse_duration), _arg(parse_health), _arg(parse_latency)
    p.add_argument("--version", action="version", version=f"hitless demo-app {__version__}")

    net = p.add_argument_group("listening")
    net.add_argument(
        "-p",
        "--port",
        "--http-port",
        dest="ports",
        action="append",
        type=_arg(_port),
        metavar="PORT",
        help="port to listen on; repeat for several (default 8080 unless a --tls-port or "
        "--grpc-port is given; 0 picks a free port, printed in the 'listening on' line)",
    )
    net.add_argument(
        "--tls-port",
        "--https-port",
        dest="tls_ports",
        action="append",
        type=_arg(_port),
        metavar="PORT",
        help="port serving the same endpoints over TLS (HTTPS); repeat for several",
    )
    net.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="PEM certificate (chain) for the TLS ports (default: a self-signed test-only one "
        "shipped with hitless, CN hitless-demo)",
    )
    net.add_argument("--tls-key", metavar="FILE", help="PEM private key of --tls-cert")
    net.add_argument(
        "--grpc-port",
        dest="grpc_ports",
        action="append",
        type=_arg(_port),
        metavar="PORT",
        help="port serving the gRPC health service (plaintext HTTP/2); repeat for several",
    )
    net.add_argument(
        "--address",
        "--bind",
        default="0.0.0.0",
        metavar="ADDR",
        help="address to bind (default 0.0.0.0; 127.0.0.1 reproduces an app that only "
        "listens on localhost, unreachable from outside its pod)",
    )
    net.add_argument(
        "--startup-delay",
        type=duration,
        default=0.0,
        metavar="S",
        help="listen only S seconds after process start; connections are refused meanwhile",
    )

    hp = p.add_argument_group("health endpoints (SPEC below)")
    hp.add_argument(
        "--healthz",
        "--liveness",
        type=health,
        default=parse_health("ok"),
        metavar="SPEC",
        help="answers of /healthz and /livez (default ok)",
    )
    hp.add_argument(
        "--readyz",
        "--readiness",
        type=health,
        default=parse_health("ok"),
        metavar="SPEC",
        help="answers of /readyz (default ok)",
    )
    hp.add_argument(
        "--startupz",
        "--startup",
        type=health,
        default=parse_health("ok"),
        metavar="SPEC",
        help="answers of /startupz and /started (default ok)",
    )
    hp.add_argument(
        "--grpc-health",
        type=_arg(_grpc_health),
        default="readyz",
        metavar="SPEC|ENDPOINT",
        help="gRPC health: follow readyz (default), healthz or startupz, or a SPEC of its own "
        "(ok: SERVING, fail: NOT_SERVING, hang: no answer; overridden by /control/grpc)",
    )
    hp.add_argument(
        "--grpc-service",
        dest="grpc_services",
        action="append",
        metavar="NAME",
        help="a service name the gRPC health service knows, answering as '' does; repeat for "
        "several (other names: NOT_FOUND, as grpc-go's)",
    )
    hp.add_argument(
        "--keep-ready-on-sigterm",
        action="store_true",
        help="keep /readyz (and the gRPC health) as it was after SIGTERM (default: it fails from SIGTERM on)",
    )

    st = p.add_argument_group("SIGTERM and shutdown")
    st.add_argument(
        "--on-sigterm",
        choices=SIGTERM_MODES,
        default="drain",
        help="what SIGTERM does (default drain; see below)",
    )
    st.add_argument(
        "--shutdown-delay",
        "--delay-shutdown",
        type=duration,
        default=0.0,
        metavar="S",
        help="drain: keep serving S seconds after SIGTERM before closing the listeners "
        "(default 0), to outlast the endpoint removal reaching every proxy",
    )
    st.add_argument(
        "--keep-alive-during-drain",
        action="store_true",
        help="drain: keep connections alive during --shutdown-delay (default: from SIGTERM on "
        "every answer carries 'Connection: close', so pooled clients move to other pods "
        "before the listeners close; keeping them alive reproduces the keep-alive race)",
    )
    st.add_argument(
        "--drain-timeout",
        type=duration,
        default=30.0,
        metavar="S",
        help="drain: wait at most S seconds for in-flight requests, then drop them (default 30)",
    )
    st.add_argument(
        "--sigterm-exit-code",
        type=_arg(_exit_code),
        default=0,
        metavar="N",
        help="exit code after SIGTERM in the drain and exit modes (default 0; 143 imitates "
        "a death by the signal)",
    )

    lat = p.add_argument_group("latency")
    lat.add_argument(
        "--latency",
        type=latency,
        default=parse_latency("0"),
        metavar="LATENCY",
        help="delay of each answer of the app endpoints (not health, control or exit): "
        "S or LOW:HIGH uniform (default 0)",
    )

    ch = p.add_argument_group("child processes")
    ch.add_argument(
        "--children",
        type=_arg(_count),
        default=0,
        metavar="N",
        help="start N child processes, which log the SIGTERM they get and then take a while "
        "(--child-cleanup) to shut down cleanly; the app sends them SIGTERM and waits for "
        "them when it exits",
    )
    ch.add_argument(
        "--child-cleanup",
        type=duration,
        default=1.0,
        metavar="S",
        help="how long a child's clean shutdown takes (default 1)",
    )
    ch.add_argument(
        "--orphan-children",
        action="store_true",
        help="exit without signalling or waiting for the children, like a shell as PID 1: "
        "they are SIGKILLed (by the kernel when PID 1 of a PID namespace exits; by their "
        "parent-death signal otherwise) and never finish their clean shutdown",
    )

    cr = p.add_argument_group("crashes")
    cr.add_argument(
        "--exit-after",
        type=duration,
        default=None,
        metavar="S",
        help="exit S seconds after process start with --exit-code (restarted again and "
        "again: CrashLoopBackOff)",
    )
    cr.add_argument(
        "--exit-code",
        type=_arg(_exit_code),
        default=1,
        metavar="N",
        help="exit code of --exit-after (default 1)",
    )

    lg = p.add_argument_group("logging")
    lg.add_argument(
        "--request-log",
        choices=REQUEST_LOG_MODES,
        default="all",
        help="log every request (all, the default), all but health checks (app), or none",
    )
    return p


def parse_options(argv: list[str]) -> Options:
    parser = build_parser()
    opts = parser.parse_args(argv, namespace=Options())
    # An "append" option's default would be appended to, not replaced: default here instead.
    opts.tls_ports, opts.grpc_ports = opts.tls_ports or [], opts.grpc_ports or []
    opts.grpc_services = opts.grpc_services or []
    opts.ports = opts.ports or ([] if opts.tls_ports or opts.grpc_ports else [8080])
    opts.tls_context = None
    if (opts.tls_cert is None) != (opts.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    if opts.tls_cert and not opts.tls_ports:
        parser.error("--tls-cert needs a --tls-port")
    if opts.tls_ports:
        # Loaded now: a bad file is a usage error (exit 2), before anything listens.
        from hitless.demo.tls import server_context

        try:
            opts.tls_context = server_context(opts.tls_cert, opts.tls_key)
        except OSError as e:  # ssl.SSLError is an OSError
            parser.error(f"cannot load the TLS certificate and key: {e}")
    if (opts.grpc_services or opts.grpc_health != "readyz") and not opts.grpc_ports:
        parser.error("--grpc-health and --grpc-service need a --grpc-port")
    if opts.grpc_ports:
        try:
            import h2  # noqa: F401  # only a gRPC port needs it: checked now for a clear message
        except ImportError:
            parser.error("--grpc-port needs the h2 package (pip install h2)")
    return opts
