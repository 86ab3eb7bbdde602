"""Checking YAML written inline in a test."""

from __future__ import annotations

import textwrap
from pathlib import Path

from hitless.api import load_text
from hitless.check.finding import Finding
from hitless.check.model import Params
from hitless.check.runner import Report, check_loaded, default_params
from hitless.check.traffic import LB_PRESETS

ROOT = Path(__file__).resolve().parent.parent.parent
SEED = ROOT / "tests" / "fixtures" / "manifests" / "seed.yaml"


def params(propagation: float | None = None, lb: str | None = None, nodes: int | None = None) -> Params:
    d = default_params()
    return Params(
        d.propagation_s if propagation is None else propagation,
        d.lb if lb is None else LB_PRESETS[lb],
        d.nodes if nodes is None else nodes,
    )


def check_yaml(text: str, p: Params | None = None, file: str = "test.yaml") -> Report:
    text = textwrap.dedent(text).lstrip("\n")
    return check_loaded(load_text(text, file), p or default_params(), {file: text})


def of(report: Report, rule: str) -> list[Finding]:
    return [f for f in report.findings if f.rule == rule]


def deployment(
    *,
    name: str = "web",
    replicas: int = 3,
    args: str = "[demo-app, --port=8080]",
    probes: str = "",
    lifecycle: str = "",
    pod_extra: str = "",
    strategy: str = "",
    ports: str = "[{name: http, containerPort: 8080}]",
    annotations: str = "",
) -> str:
    """A Deployment of the demo app; fragments are YAML at the container's (or pod spec's) indent."""

    def block(text: str, indent: int) -> str:
        return textwrap.indent(textwrap.dedent(text).strip("\n"), " " * indent) + "\n" if text.strip() else ""

    return (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
        + (f"  annotations: {annotations}\n" if annotations else "")
        + f"spec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: {name}}}}}\n"
        + block(strategy, 2)
        + f"  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n"
        + block(pod_extra, 6)
        + f"      containers:\n      - name: web\n        image: hitless:0.1.0\n        args: {args}\n"
        + f"        ports: {ports}\n"
        + block(probes, 8)
        + block(lifecycle, 8)
    )


def service(name: str = "web", selector: str = "{app: web}", extra: str = "", target: str = "http") -> str:
    return (
        f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  selector: {selector}\n"
        f"  ports: [{{name: http, port: 80, targetPort: {target}}}]\n"
        + (textwrap.indent(textwrap.dedent(extra).strip("\n"), "  ") + "\n" if extra else "")
    )


READY = "readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1, failureThreshold: 2}"
LIVE = "livenessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 5, failureThreshold: 3}"
PRESTOP = "lifecycle: {preStop: {sleep: {seconds: 3}}}"


def good(**kw: str | int) -> str:
    """A workload and Service with nothing wrong, to break one thing at a time."""
    base: dict[str, str | int] = {"probes": READY + "\n" + LIVE, "lifecycle": PRESTOP}
    base.update(kw)
    return deployment(**base) + "---\n" + service()  # type: ignore[arg-type]
