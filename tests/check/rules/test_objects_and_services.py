from __future__ import annotations

from tests.check.helpers import check_yaml, deployment, good, of, service


def test_a_selector_matching_nothing_is_an_error_when_the_input_has_workloads() -> None:
    report = check_yaml(deployment() + "---\n" + service(selector="{app: api}"))
    (f,) = of(report, "service-selects-nothing")
    assert (f.severity.value, f.field) == ("error", "spec.selector")
    assert (
        of(check_yaml(service(selector="{app: api}")), "service-selects-nothing")[0].severity.value == "info"
    )


def test_a_statefulset_hitless_does_not_run_still_counts_as_a_target() -> None:
    sts = """
    apiVersion: apps/v1
    kind: StatefulSet
    metadata: {name: db}
    spec:
      serviceName: db
      selector: {matchLabels: {app: db}}
      template:
        metadata: {labels: {app: db}}
        spec: {containers: [{name: db, image: postgres}]}
    """
    import textwrap

    report = check_yaml(textwrap.dedent(sts).lstrip() + "---\n" + service(name="db", selector="{app: db}"))
    assert not of(report, "service-selects-nothing")


def test_duplicates_point_at_the_first_definition() -> None:
    (f,) = of(check_yaml(good() + "---\n" + service()), "duplicate-object")
    assert (f.kind, f.name, f.line) == ("Service", "web", 31)
    assert "test.yaml:20" in f.message


def test_single_replica_and_bare_pods_behind_services() -> None:
    (f,) = of(check_yaml(good(replicas=1)), "single-replica")
    assert f.field == "spec.replicas"
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: web}}\n"
        "spec: {containers: [{name: web, image: hitless:0.1.0}]}\n"
    )
    (g,) = of(check_yaml(pod + "---\n" + service()), "single-replica")
    assert g.kind == "Pod"
    sts = (
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec:\n  replicas: 1\n"
        "  serviceName: web\n  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: hitless:0.1.0}]}\n"
    )
    (h,) = of(check_yaml(sts + "---\n" + service()), "single-replica")
    assert (h.kind, h.field) == ("StatefulSet", "spec.replicas")


def test_recreate_behind_a_service_and_every_replica_unavailable() -> None:
    (f,) = of(check_yaml(good(strategy="strategy: {type: Recreate}")), "rollout-strategy")
    assert f.numbers == {"outage_s": 4.0, "replicas": 3}  # preStop 3 s + readiness 1 s
    all_down = "strategy: {rollingUpdate: {maxUnavailable: 100%, maxSurge: 0}}"
    (g,) = of(check_yaml(good(strategy=all_down)), "rollout-strategy")
    assert g.numbers == {"max_unavailable": 3, "max_surge": 0, "replicas": 3}
    assert not of(check_yaml(good()), "rollout-strategy")


def test_a_pdb_selecting_the_pods_silences_the_info() -> None:
    assert of(check_yaml(good()), "no-pod-disruption-budget")
    pdb = (
        "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: web}\n"
        "spec: {maxUnavailable: 1, selector: {matchLabels: {app: web}}}\n"
    )
    assert not of(check_yaml(good() + "---\n" + pdb), "no-pod-disruption-budget")


def test_invalid_objects_are_findings_and_still_checked() -> None:
    report = check_yaml(good(lifecycle="lifecycle: {preStop: {exec: {command: [sleep, 40]}}}"))
    (f,) = of(report, "invalid-object")
    assert (f.severity.value, f.field) == (
        "error",
        "spec.template.spec.containers[0].lifecycle.preStop.exec.command[1]",
    )
    assert of(report, "prestop-exceeds-grace")  # the object as meant: sleep "40" > 30 s grace


def test_a_yaml_syntax_error_is_a_finding_whose_fix_is_the_yaml() -> None:
    report = check_yaml(good() + "---\nkind: Service\n spec: [\n")
    (f,) = of(report, "invalid-object")
    assert f.message.startswith("error converting YAML to JSON: yaml: line ")
    assert f.fix.startswith("Correct the YAML at the line named")
    assert of(report, "no-pod-disruption-budget")  # the documents before it are still checked


def test_an_unknown_kind_and_a_missing_namespace_are_errors_with_their_own_fix() -> None:
    report = check_yaml(
        "apiVersion: v1\nkind: service\nmetadata: {name: web}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: shop}\n"
    )
    first, second = of(report, "invalid-object")
    assert first.severity.value == "error" and first.message.startswith("resource mapping not found")
    assert "kubectl api-resources" in (first.fix or "")
    assert second.message.endswith('namespaces "shop" not found')
    assert (second.fix or "").startswith("Create the namespace first")
    assert report.exit_code == 1
