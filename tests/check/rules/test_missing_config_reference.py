from __future__ import annotations

from tests.check.helpers import check_yaml, deployment, of

CONFIG = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {level: debug}\n"
POD_EXTRA = """
volumes:
- name: config
  configMap: {name: settings, items: [{key: level, path: level}]}
- name: creds
  secret: {secretName: creds}
- name: extra
  secret: {secretName: maybe, optional: true}
"""


def test_a_missing_volume_source_is_a_warning_in_the_kubelets_words() -> None:
    report = check_yaml(CONFIG + "---\n" + deployment(pod_extra=POD_EXTRA))

    (f,) = of(report, "missing-config-reference")
    assert (f.severity.value, f.field, f.line) == (
        "warning",
        "spec.template.spec.volumes[1].secret.secretName",
        20,
    )
    assert f.message.endswith(
        "the pod waits in ContainerCreating: "
        'MountVolume.SetUp failed for volume "creds" : secret "creds" not found'
    )


def test_a_missing_key_of_a_config_map_in_the_input_is_an_error() -> None:
    env = "env: [{name: LEVEL, valueFrom: {configMapKeyRef: {name: settings, key: lvl}}}]"
    report = check_yaml(CONFIG + "---\n" + deployment(probes=env))

    (f,) = of(report, "missing-config-reference")
    assert f.severity.value == "error"
    assert f.message == (
        'ConfigMap "settings" has no key "lvl": the container does not start (CreateContainerConfigError): '
        "couldn't find key lvl in ConfigMap default/settings"
    )


def test_env_from_and_optional_references() -> None:
    env = "envFrom: [{secretRef: {name: app-env}}, {configMapRef: {name: opt, optional: true}}]"
    (f,) = of(check_yaml(deployment(probes=env)), "missing-config-reference")
    assert f.field == "spec.template.spec.containers[0].envFrom[0].secretRef.name"
    assert 'CreateContainerConfigError): Error: secret "app-env" not found' in f.message
    present = CONFIG + "---\n" + deployment(probes="envFrom: [{configMapRef: {name: settings}}]")
    assert not of(check_yaml(present), "missing-config-reference")


def test_an_invalid_object_read_leniently_with_odd_volumes_is_skipped_not_a_crash() -> None:
    report = check_yaml(deployment(pod_extra="volumes: [config, {name: x, secret: oops}]"))

    assert of(report, "invalid-object")
    assert not of(report, "missing-config-reference")
