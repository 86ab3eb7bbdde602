"""The seed case: a widely read article's manifests, treated exactly as an API server would."""

from __future__ import annotations

from pathlib import Path

from hitless.api import load
from hitless.api.types import Pod, Service

from .helpers import FIXTURES

SEED = str(FIXTURES / "seed.yaml")


def test_the_pod_is_rejected_for_the_integer_in_its_prestop_command() -> None:
    result = load([SEED])

    assert len(result.errors) == 1
    error = result.errors[0]
    # YAML reads `command: [sleep, 30]` as a string and an int; Go cannot put a number in a []string.
    assert error.message == (
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field '
        "ExecAction.spec.containers.lifecycle.preStop.exec.command of type string"
    )
    assert error.field == "spec.containers[0].lifecycle.preStop.exec.command[1]"
    assert (error.file, error.line) == (SEED, 37)
    assert (error.kind, error.name, error.category) == ("Pod", "nginx", "decode")
    assert error.format().startswith(f"{SEED}:37: Pod in version")


def test_both_services_of_the_same_name_are_accepted_in_order() -> None:
    result = load([SEED])

    services = result.of_type(Service)
    assert [s.name for s in services] == ["nginx", "nginx"]
    assert [s.spec.external_traffic_policy for s in services] == ["Cluster", "Local"]
    assert [o.line for o in result.objects] == [40, 56]
    assert not result.of_type(Pod)
    # Applied one after the other, the second configures the first.
    (applied,) = result.applied()
    assert applied.line == 56
    assert applied.obj.to_json()["spec"]["externalTrafficPolicy"] == "Local"


def test_the_pod_is_accepted_once_the_number_is_quoted(tmp_path: Path) -> None:
    fixed = tmp_path / "seed.yaml"
    fixed.write_text((FIXTURES / "seed.yaml").read_text().replace("- 30", '- "30"'))

    result = load([str(fixed)])

    assert result.ok
    (pod,) = result.of_type(Pod)
    container = pod.spec.containers[0]
    assert container.lifecycle is not None and container.lifecycle.pre_stop is not None
    assert container.lifecycle.pre_stop.exec is not None
    assert container.lifecycle.pre_stop.exec.command == ["sleep", "30"]
    assert pod.spec.termination_grace_period_seconds == 60
    assert container.image_pull_policy == "Always"  # "nginx" has no tag: latest
