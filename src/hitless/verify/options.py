"""What a local ``hitless verify`` run is asked to do, typed: the CLI builds it from its flags
(cli/verify.py), a program builds it directly (docs/verify.md, "As a library")."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hitless.cli import flags
from hitless.kubelet.images import ImageService
from hitless.proxy.defaults import PRESETS
from hitless.verify.generator import ConnectionMode
from hitless.verify.scenarios import SCENARIOS


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

    def problems(self) -> list[str]:
        """Each value no run can use, named by its flag with what it got (exit 2 in the CLI)."""
        errors = []
        for flag, value, ok, want in [
            ("--rps", self.rps, 0 < self.rps < math.inf, "a finite number greater than 0"),
            # The maxima and their reasons: cli/flags.py, docs/reliability.md.
            ("--rps", self.rps, not self.rps > flags.MAX_RPS, f"at most {flags.MAX_RPS:g}"),
            ("--timeout", self.timeout, 0 < self.timeout < math.inf, "a finite number greater than 0"),
            ("--repeat", self.repeat, self.repeat >= 1, "at least 1"),
            ("--nodes", self.nodes, self.nodes >= 1, "at least 1"),
            ("--nodes", self.nodes, self.nodes <= flags.MAX_NODES, f"at most {flags.MAX_NODES}"),
            ("--max-failures", self.max_failures, self.max_failures >= 0, "0 or more"),
            (
                "--propagation-delay",
                self.propagation_delay,
                self.propagation_delay is None or 0 <= self.propagation_delay < math.inf,
                "0 or more",
            ),
        ]:
            if not ok:
                errors.append(f"{flag} must be {want} (got {value:g})")
        if not self.path.startswith("/"):
            errors.append(f"--path must start with / (got {self.path!r})")
        if self.lb_preset not in PRESETS:
            errors.append(f"unknown --lb-preset {self.lb_preset!r} (known: {', '.join(PRESETS)})")
        if self.scenario not in SCENARIOS:
            # argparse's choices in the CLI; a program's options meet it here.
            errors.append(f"unknown scenario {self.scenario!r} (known: {', '.join(SCENARIOS)})")
        return errors
