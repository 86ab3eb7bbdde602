"""``hitless up --api [HOST:]PORT [--kubeconfig PATH]``: the API server beside a running engine.

Imported by ``cli/up.py`` only; aiohttp and cryptography (the ``api`` extra) are imported only
when ``--api`` is given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hitless.apiserver.kubeconfig import Kubeconfig
    from hitless.apiserver.server import ApiServer
    from hitless.engine import Engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        metavar="[HOST:]PORT",
        help="serve the Kubernetes API over HTTPS on loopback (0: a free port) and add a kubectl "
        "context 'hitless' to $KUBECONFIG or ~/.kube/config for the run (docs/api.md)",
    )
    parser.add_argument(
        "--kubeconfig",
        metavar="PATH",
        help="with --api: write a kubeconfig of its own here (kept) instead of merging the context",
    )


class Running:
    def __init__(self, server: ApiServer, kubeconfig: Kubeconfig) -> None:
        self.server = server
        self.kubeconfig = kubeconfig

    async def stop(self) -> None:
        await self.server.stop()
        self.kubeconfig.remove()


async def start(args: argparse.Namespace, engine: Engine) -> Running | None:
    """Start the API server when ``--api`` was given; the kubeconfig is written once it listens."""
    if getattr(args, "api", None) is None:
        return None
    try:
        from hitless.apiserver.kubeconfig import CONTEXT, Kubeconfig
        from hitless.apiserver.server import ApiServer, parse_listen
    except ModuleNotFoundError as exc:
        raise SystemExit(f"hitless: --api needs the 'api' extra (pip install 'hitless[api]'): {exc}") from exc
    try:
        host, port = parse_listen(args.api)
    except ValueError as exc:
        raise SystemExit(f"hitless: {exc}") from exc
    server = ApiServer(engine.store, engine.clock, engine.options.log_dir, host, port)
    server.dial = engine.network.open_connection  # pods/proxy reaches pods as the node does
    # The kubelets' token manager asks this server for the pods' service-account tokens
    # (TokenRequest), which it then authenticates.
    for kubelet in engine.kubelets:
        kubelet.volumes.host.request_token = server.tokens.issue
    await server.start()
    server.spawn()
    assert server.credentials is not None
    path = Path(args.kubeconfig) if args.kubeconfig else None
    kubeconfig = Kubeconfig.write(server.url, server.credentials, path)
    where = "written to" if path else "merged into"
    print(
        f"hitless: Kubernetes API at {server.url}; kubectl context {CONTEXT!r} {where} {kubeconfig.path}",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={kubeconfig.path}", file=sys.stderr, flush=True)
    return Running(server, kubeconfig)
