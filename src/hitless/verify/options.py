"""What a local ``hitless verify`` run is asked to do, typed: the CLI builds it from its flags
(cli/verify.py), a program builds it directly (docs/verify.md, "As a library")."""

from __future__ import annotations

from dataclasses import dataclass

from hitless.kubelet.images import ImageService
from hitless.verify.generator import ConnectionMode


@dataclass(frozen=True)
class VerifyOptions:
    """The defaults are the CLI's; each field is the flag of the same name (``hitless verify -h``)."""

    # The manifests' files, as the report's ``run.files`` names them.
    files: tuple[str, ...] = ()
    # The Service to load, and the workload to act on: None is the only one (verify/picking.py).
    service: str | None = None
    workload: str | None = None
    path: str = "/"
    rps: float = 200
    connections: ConnectionMode = "keepalive"
    scenario: str = "rollout"
    repeat: int = 3
    nodes: int = 2
    # None: kube-proxy's model of propagation; a number: a fixed delay (EngineOptions).
    propagation_delay: float | None = None
    lb_preset: str = "gce"
    max_failures: int = 0
    # Per request, in seconds.
    timeout: float = 3.0
    # The kubelet's images (pulls, mirrors); None: the engine's default ImageService.
    images: ImageService | None = None
    # The node and load-balancer address prefixes (cli/addresses.py claims them before the
    # engine's PID namespace hides the host's listeners); None: the first free pair.
    address_prefixes: tuple[str, str] | None = None
