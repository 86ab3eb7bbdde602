"""ConfigMaps and Secrets as the API server takes them: stringData merged, base64 decoded with Go's
messages, ValidateConfigMap / ValidateSecret, and an immutable one's data kept on re-apply."""

from __future__ import annotations

from hitless.api.types.config import ConfigMap, Secret
from hitless.clock import FakeClock
from hitless.store.apply import Applier
from hitless.store.store import Store

from .helpers import load_yaml


def test_string_data_is_merged_into_data_and_never_returned() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: Secret
        metadata: {name: creds}
        data: {user: YWRtaW4=, password: b2xk}
        stringData: {password: new, "token": "t"}
        """
    )

    (secret,) = result.of_type(Secret)
    assert secret.to_json() == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "data": {"user": "YWRtaW4=", "password": "bmV3", "token": "dA=="},
        "type": "Opaque",
    }
    assert secret.decoded() == {"user": b"admin", "password": b"new", "token": b"t"}


def test_base64_is_checked_with_the_decoders_message_and_line() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: Secret
        metadata: {name: s}
        data:
          ok: aGVsbG8=
          bad: aGVsbG8
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        binaryData: {blob: "a b"}
        """
    )

    assert [(e.line, e.message) for e in result.errors] == [
        (6, 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4'),
        (
            11,
            'ConfigMap in version "v1" cannot be handled as a ConfigMap: illegal base64 data at input byte 1',
        ),
    ]


def test_config_map_keys_overlap_and_size() -> None:
    big = "x" * (1024 * 1024)
    result = load_yaml(
        f"""
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: c}}
        data:
          "a b": "x"
          "..x": "y"
          both: "z"
        binaryData: {{both: eg==}}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: big}}
        data: {{a: "{big}", b: "y"}}
        """
    )

    messages = [e.message for e in result.errors]
    assert messages == [
        'ConfigMap "c" is invalid: data[..x]: Invalid value: "..x": must not start with \'..\'',
        'ConfigMap "c" is invalid: data[a b]: Invalid value: "a b": a valid config key must consist of '
        "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name' or 'KEY_NAME' or 'key-name', "
        "regex used for validation is '[-._a-zA-Z0-9]+')",
        'ConfigMap "c" is invalid: data[both]: Invalid value: "both": duplicate of key present in binaryData',
        'ConfigMap "big" is invalid: : Too long: may not be more than 1048576 bytes',
    ]


def test_secret_types_require_their_keys() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: Secret
        metadata: {name: tls}
        type: kubernetes.io/tls
        stringData: {tls.crt: cert}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: pull}
        type: kubernetes.io/dockerconfigjson
        stringData: {.dockerconfigjson: "<html>"}
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: token}
        type: kubernetes.io/service-account-token
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: auth}
        type: kubernetes.io/basic-auth
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: custom}
        type: example.com/anything
        """
    )

    assert [o.obj.name for o in result.objects] == ["custom"]
    assert [e.message for e in result.errors] == [
        'Secret "tls" is invalid: data[tls.key]: Required value',
        'Secret "pull" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": '
        "invalid character '<' looking for beginning of value",
        'Secret "token" is invalid: metadata.annotations[kubernetes.io/service-account.name]: Required value',
        'Secret "auth" is invalid: data[username]: Required value',
        'Secret "auth" is invalid: data[password]: Required value',
    ]


def test_an_immutable_config_map_refuses_a_change_of_its_data_on_reapply() -> None:
    first = load_yaml(
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        data: {a: "1"}
        immutable: true
        """
    )
    store = Store(FakeClock())
    applier = Applier(store)
    applier.apply([o.obj for o in first.objects])

    changed = load_yaml(
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        data: {a: "2"}
        immutable: true
        """
    )
    result = applier.apply([o.obj for o in changed.objects])

    assert result.errors == [
        'configmap/c: The ConfigMap "c" is invalid: data: Forbidden: '
        "field is immutable when `immutable` is set"
    ]
    live = store.get_typed(ConfigMap, "ConfigMap", "default", "c")
    assert live is not None and live.data == {"a": "1"}
