"""Files, stdin, multi-document streams, lists, skipped kinds and file-level errors."""

from __future__ import annotations

import io
from pathlib import Path

from hitless.api import api_server_messages, load
from hitless.api.types import Deployment, Pod, Service

from .helpers import formatted, load_yaml, messages

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers:
  - name: app
    image: nginx:1.27
"""


def test_multi_document_stream_with_empty_documents() -> None:
    text = (
        "---\n# only a comment\n---\n" + POD.format(name="a") + "---\n---\n" + POD.format(name="b") + "...\n"
    )

    result = load_yaml(text)

    assert result.ok
    assert [o.name for o in result.objects] == ["a", "b"]
    assert [o.line for o in result.objects] == [4, 14]


def test_list_items_are_loaded_each_with_its_own_lines() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Service
          metadata: {name: svc}
          spec:
            ports: [{port: 80}]
        - apiVersion: v1
          kind: Pod
          metadata: {name: bad}
          spec:
            containers:
            - name: app
              image: nginx
              livenesProbe: {}
        """
    )

    (svc,) = result.objects
    assert isinstance(svc.obj, Service)
    assert svc.line == 4
    assert svc.line_of("spec.ports[0].port") == 8
    assert svc.raw == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {"ports": [{"port": 80}]},
    }
    assert formatted(result) == [
        'test.yaml:16: Pod in version "v1" cannot be handled as a Pod: '
        'strict decoding error: unknown field "spec.containers[0].livenesProbe"'
    ]


def test_stdin_is_read_for_dash(tmp_path: Path) -> None:
    file = tmp_path / "pod.yaml"
    file.write_text(POD.format(name="from-file"))

    result = load([str(file), "-"], stdin=io.StringIO(POD.format(name="from-stdin")))

    assert [(o.file, o.name) for o in result.objects] == [(str(file), "from-file"), ("STDIN", "from-stdin")]


def test_directory_loads_its_manifests_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(POD.format(name="b"))
    (tmp_path / "a.yaml").write_text(POD.format(name="a"))
    (tmp_path / "notes.txt").write_text("not a manifest")

    result = load([str(tmp_path)])

    assert [o.name for o in result.objects] == ["a", "b"]


def test_other_kinds_are_stored_and_unknown_versions_refused_in_kubectl_words() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {a: b}
        ---
        apiVersion: apps/v1beta1
        kind: Deployment
        metadata: {name: old}
        ---
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web}
        """
    )

    assert [(o.kind, o.name, result.handling(o.obj)) for o in result.objects] == [
        ("ConfigMap", "settings", "emulated"),
        ("Ingress", "web", "stored"),
    ]
    assert [(e.line, e.message) for e in result.errors] == [
        (
            6,
            'resource mapping not found for name: "old" namespace: "" from "test.yaml": no matches for '
            'kind "Deployment" in version "apps/v1beta1"\nensure CRDs are installed first',
        )
    ]


def test_missing_api_version_and_kind_in_kubectl_words() -> None:
    result = load_yaml(
        """
        metadata: {name: nothing}
        ---
        kind: Pod
        metadata: {name: half}
        ---
        apiVersion: 1
        kind: [Pod]
        ---
        - just
        - a list
        """
    )

    stop = "; if you choose to ignore these errors, turn validation off with --validate=false"
    assert formatted(result) == [
        "test.yaml:1: error validating data: [apiVersion not set, kind not set]" + stop,
        "test.yaml:3: error validating data: apiVersion not set" + stop,
        "test.yaml:6: error validating data: [apiVersion isn't string type, kind isn't string type]" + stop,
        "test.yaml:9: error validating data: invalid object to validate" + stop,
    ]
    assert [(e.kind, e.name, e.category) for e in result.errors][:2] == [
        (None, "nothing", "object"),
        ("Pod", "half", "object"),
    ]


def test_a_missing_file_is_an_error_and_the_others_still_load(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(POD.format(name="good"))
    missing = str(tmp_path / "missing.yaml")

    result = load([missing, str(good)])

    assert formatted(result) == [f'{missing}: the path "{missing}" does not exist']
    assert result.errors[0].category == "file"
    assert [o.name for o in result.objects] == ["good"]


def test_invalid_utf8_is_a_yaml_error(tmp_path: Path) -> None:
    file = tmp_path / "bin.yaml"
    file.write_bytes(b"a: 1\nb: \xff\xfe\n")

    result = load([str(file)])

    assert formatted(result) == [
        f"{file}:2: error converting YAML to JSON: yaml: invalid leading UTF-8 octet"
    ]


def test_one_invalid_object_does_not_stop_the_others() -> None:
    result = load_yaml(
        POD.format(name="Bad_Name")
        + "---\n"
        + POD.format(name="good")
        + "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n"
    )

    assert [o.name for o in result.objects] == ["good"]
    assert [e.name for e in result.errors] == ["Bad_Name", "d", "d", "d"]
    assert messages(result)[1:] == [
        'Deployment.apps "d" is invalid: spec.selector: Required value',
        'Deployment.apps "d" is invalid: spec.template.metadata.labels: Invalid value: '
        "map[string]string(nil): "
        "`selector` does not match template `labels`",
        'Deployment.apps "d" is invalid: spec.template.spec.containers: Required value',
    ]


def test_line_of_falls_back_to_the_nearest_written_ancestor() -> None:
    result = load_yaml(POD.format(name="web"))

    (loaded,) = result.objects
    assert loaded.line_of("spec.containers[0].image") == 8
    assert loaded.line_of("spec.containers[0].imagePullPolicy") == 7  # defaulted, not written
    assert loaded.line_of("spec.restartPolicy") == 5
    assert loaded.line_of("nothing.here") == 1


def test_typed_objects_by_kind() -> None:
    deployment = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: kube-system}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: api:2}]
"""
    result = load_yaml(POD.format(name="p") + "---\n" + deployment)

    assert [type(o.obj) for o in result.objects] == [Pod, Deployment]
    (d,) = result.of_type(Deployment)
    assert d.key == ("Deployment", "kube-system", "api")
    assert d.spec.selector.matches({"app": "api", "tier": "x"})


def test_api_server_messages_aggregate_per_object() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: typo}
        spec:
          zeta: 1
          containers: [{name: a, image: b, livenesProbe: {}}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: types}
        spec:
          terminationGracePeriodSeconds: x
          containers: [{name: 5, image: b, foo: 1}]
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: invalid}
        spec:
          restartPolicy: X
          containers: [{name: a}]
        ---
        kind: Pod
        """
    )

    assert api_server_messages(result) == [
        # Unknown fields together, in the order of the JSON kubectl sends (keys sorted).
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].livenesProbe", unknown field "spec.zeta"',
        # Only the first wrong type; unknown fields are not reported then.
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal number into Go struct field '
        "Container.spec.containers.name of type string",
        'Pod "invalid" is invalid: [spec.containers[0].image: Required value, '
        'spec.restartPolicy: Unsupported value: "X": supported values: "Always", "OnFailure", "Never"]',
        "error validating data: apiVersion not set; "
        "if you choose to ignore these errors, turn validation off with --validate=false",
    ]
