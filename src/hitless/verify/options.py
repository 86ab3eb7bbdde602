"""What a ``hitless verify`` run is asked to do, typed: the CLI builds it from its flags
(cli/verify.py), a program builds it directly (docs/verify.md, "As a library"). A run on this
machine (verify/local.py) leaves ``cluster`` None; a run through a cluster's API
(verify/cluster.py) names the cluster in a :class:`ClusterTarget`."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hitless.cli import flags
from hitless.kubelet.images import ImageService
from hitless.proxy.defaults import PRESETS
from hitless.verify.generator import ConnectionMode
from hitless.verify.scenarios import SCENARIOS

# Where a cluster run's load comes from (verify/agent.py): this machine, a Pod in the cluster, or
# this machine when the Service answers here.
LOAD_FROM = ("auto", "runner", "agent")


@dataclass(frozen=True)
class ClusterTarget:
    """The cluster a run verifies on (``--kubeconfig`` and the flags that need it)."""

    # None: $KUBECONFIG, else ~/.kube/config (kube/client.py); None context: its current one.
    kubeconfig: str | None = None
    context: str | None = None
    # An existing namespace to run in; None: a throwaway one, deleted after the run.
    namespace: str | None = None
    # --scenario node-drain cordons and drains a node that other workloads share: only if allowed.
    allow_node_drain: bool = False
    load_from: str = "auto"
    # The load agent's image; None: verify/agent.py's default_image().
    agent_image: str | None = None

    def problems(self) -> list[str]:
        if self.load_from not in LOAD_FROM:
            # argparse's choices in the CLI; a program's options meet it here.
            return [f"unknown --load-from {self.load_from!r} (known: {', '.join(LOAD_FROM)})"]
        return []


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
    # None: a run on this machine (verify/local.py); else through this cluster's API (verify/cluster.py).
    cluster: ClusterTarget | None = None

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
        if self.cluster is not None:
            errors += self.cluster.problems()
        return errors
