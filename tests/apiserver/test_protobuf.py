"""Protobuf request bodies: the envelope and the field table, against bytes encoded here as
gogo's proto2 encoder writes them (every value field, zero or not)."""

from __future__ import annotations

import pytest

from hitless.apiserver import kinds, protobuf
from hitless.apiserver.status import ApiError


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _bytes(1, api_version.encode()) + _bytes(2, kind.encode())
    return b"k8s\x00" + _bytes(1, type_meta) + _bytes(2, raw)


def test_a_deployment_as_kubectl_create_sends_it() -> None:
    meta = _bytes(1, b"web") + _bytes(2, b"") + _bytes(3, b"default") + _int(7, 0)
    labels = _bytes(11, _bytes(1, b"app") + _bytes(2, b"web"))
    container = (
        _bytes(1, b"app") + _bytes(2, b"nginx") + _bytes(3, b"sleep") + _bytes(3, b"1000")
        + _int(16, 0)  # stdin: false, omitempty: left out
        + _bytes(6, _int(3, 8080))  # ports[0].containerPort (a non-omitempty field)
    )  # fmt: skip
    pod_spec = _bytes(2, container) + _int(4, 30)  # terminationGracePeriodSeconds, a pointer
    template = _bytes(1, _bytes(11, _bytes(1, b"app") + _bytes(2, b"web"))) + _bytes(2, pod_spec)
    selector = _bytes(1, _bytes(1, b"app") + _bytes(2, b"web"))
    spec = _int(1, 0) + _bytes(2, selector) + _bytes(3, template) + _int(7, 0)  # replicas 0, paused false
    body = _envelope("apps/v1", "Deployment", _bytes(1, meta + labels) + _bytes(2, spec))
    resource = kinds.by_kind("Deployment")
    assert resource is not None
    assert protobuf.decode(resource, body) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx",
                            "command": ["sleep", "1000"],
                            "ports": [{"containerPort": 8080}],
                        }
                    ],
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
    }


def test_secret_bytes_intorstring_quantity_time_and_inlined_structs() -> None:
    secret = _bytes(2, _bytes(1, b"key") + _bytes(2, b"\x00\xff"))
    resource = kinds.by_kind("Secret")
    assert resource is not None
    assert protobuf.decode(resource, _envelope("v1", "Secret", secret))["data"] == {"key": "AP8="}
    port = _bytes(4, _int(1, 1) + _bytes(3, b"http"))  # ServicePort.targetPort: IntOrString, a string
    svc = kinds.by_kind("Service")
    assert svc is not None
    decoded = protobuf.decode(svc, _envelope("v1", "Service", _bytes(2, _bytes(1, _int(3, 80) + port))))
    assert decoded["spec"]["ports"] == [{"port": 80, "targetPort": "http"}]
    # Container.resources.limits: map<string, Quantity>; env[].valueFrom.secretKeyRef.name is
    # LocalObjectReference, embedded: inlined in JSON.
    limits = _bytes(1, _bytes(1, b"cpu") + _bytes(2, _bytes(1, b"500m")))
    key_ref = _bytes(1, _bytes(1, b"creds")) + _bytes(2, b"token")
    env = _bytes(1, b"TOKEN") + _bytes(3, _bytes(4, key_ref))
    container = _bytes(1, b"app") + _bytes(8, limits) + _bytes(7, env)
    created = _bytes(1, _bytes(1, b"p") + _bytes(8, _int(1, 1_700_000_000)))
    pod = kinds.by_kind("Pod")
    assert pod is not None
    decoded = protobuf.decode(pod, _envelope("v1", "Pod", created + _bytes(2, _bytes(2, container))))
    assert decoded["metadata"] == {"name": "p", "creationTimestamp": "2023-11-14T22:13:20Z"}
    c = decoded["spec"]["containers"][0]
    assert c["resources"] == {"limits": {"cpu": "500m"}}
    assert c["env"] == [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}}]


def test_not_protobuf_or_an_unknown_field_is_a_bad_request() -> None:
    pod = kinds.by_kind("Pod")
    assert pod is not None
    with pytest.raises(ApiError) as err:
        protobuf.decode(pod, b'{"kind": "Pod"}')
    assert err.value.code == 400 and "expected prefix [107 56 115 0]" in err.value.message
    with pytest.raises(ApiError) as err:
        protobuf.decode(pod, _envelope("v1", "Pod", _int(99, 1)))
    assert "unknown field 99 of Pod" in err.value.message
    with pytest.raises(ApiError) as err:
        protobuf.decode(pod, _envelope("v1", "Pod", _int(1, 5)))  # metadata as a number
    assert err.value.code == 400
