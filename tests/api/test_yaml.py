"""YAML syntax errors, duplicate keys, and scalars read as kubectl's go-yaml reads them."""

from __future__ import annotations

from hitless.api.yamlsource import json_normalize, parse_stream

from .helpers import formatted, load_yaml, pod


def test_syntax_error_names_file_line_and_the_parser_problem() -> None:
    result = load_yaml(
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
            labels: {}
        """
    )

    assert formatted(result) == [
        "test.yaml:5: error converting YAML to JSON: yaml: line 5: mapping values are not allowed in this "
        "context"
    ]
    assert result.errors[0].category == "yaml"


def test_a_syntax_error_in_one_document_does_not_hide_the_next() -> None:
    result = load_yaml("a: [1, 2\n---\n" + pod("containers: [{name: a, image: b}]"))

    # go-yaml prints a parser error's 0-based line (a scanner error's is 1-based).
    assert formatted(result) == [
        "test.yaml:2: error converting YAML to JSON: yaml: line 1: did not find expected ',' or ']'"
    ]
    assert [o.name for o in result.objects] == ["web"]


def test_syntax_error_lines_in_messages_count_from_the_document_as_kubectl_cut_it() -> None:
    second = "---\nkind: Pod\nmetadata:\n  a: b\n    c: d\n"
    result = load_yaml(pod("containers: [{name: a, image: b}]") + second)

    # The second document is lines 8-11 of the file; kubectl parses it alone.
    assert formatted(result) == [
        "test.yaml:11: error converting YAML to JSON: yaml: line 4: mapping values are not allowed in this "
        "context"
    ]


def test_undefined_alias_is_named_as_go_yaml_names_it() -> None:
    result = load_yaml("a: 1\nb: *nowhere\n")

    assert formatted(result) == [
        "test.yaml:2: error converting YAML to JSON: yaml: unknown anchor 'nowhere' referenced"
    ]


def test_a_duplicate_key_is_accepted_last_value_wins_with_a_warning() -> None:
    # kubectl's YAML-to-JSON conversion is go-yaml's non-strict Unmarshal: no error, last value wins.
    result = load_yaml(
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
        spec:
          containers:
          - name: app
            image: nginx
            readinessProbe:
              httpGet: {path: /ready, port: 8080}
            readinessProbe:
              tcpSocket: {port: 8080}
        """
    )

    assert result.errors == []
    (pod_obj,) = result.objects
    probe = pod_obj.raw["spec"]["containers"][0]["readinessProbe"]
    assert probe == {"tcpSocket": {"port": 8080}}
    assert [w.format() for w in result.warnings] == [
        'test.yaml:11: warning: key "readinessProbe" is already set at line 9; kubectl keeps only this value'
    ]
    assert pod_obj.line_of("spec.containers[0].readinessProbe") == 11
    assert pod_obj.line_of("spec.containers[0].readinessProbe.httpGet") == 11


def test_a_document_separator_followed_by_content_is_rejected_like_kubectl() -> None:
    result = load_yaml("--- {a: 1}\n")

    assert formatted(result) == ["test.yaml:1: invalid Yaml document separator: {a: 1}"]


def test_scalars_follow_yaml_1_1_as_go_yaml_v2() -> None:
    parsed = parse_stream("a: yes\nb: off\nc: y\nd: 'y'\ne: 0755\nf: 1_000\ng: 2024-01-02\nh: 1:30\ni: ~\n")

    assert parsed.problems == []
    (doc,) = parsed.documents
    assert doc.value == {
        "a": True,
        "b": False,
        "c": True,
        "d": "y",
        "e": 493,
        "f": 1000,
        "g": "2024-01-02",
        "h": "1:30",
        "i": None,
    }


def test_merge_keys_and_anchors() -> None:
    (doc,) = parse_stream("base: &b {x: 1, z: 2}\nthing:\n  <<: *b\n  z: 3\n").documents

    assert doc.value["thing"] == {"z": 3, "x": 1}


def test_merge_keys_apply_where_written_as_in_go_yaml_v2() -> None:
    # go-yaml v2 merges in place: a key written before "<<" is replaced; the first of several wins.
    parsed = parse_stream("a: &a {k: 1}\nb: &b {k: 2, j: 2}\nc:\n  k: 0\n  <<: [*a, *b]\n")

    assert parsed.documents[0].value["c"] == {"k": 1, "j": 2}
    assert [(w.line, w.message) for w in parsed.warnings] == [
        (5, 'the merge key replaces key "k" set above it; kubectl keeps the merged value')
    ]


def test_integral_floats_become_json_integers() -> None:
    assert json_normalize({"a": [10.0, 1.5], "b": 3}) == {"a": [10, 1.5], "b": 3}


def test_lines_of_fields_and_list_items() -> None:
    (doc,) = parse_stream("# c\nspec:\n  containers:\n  - name: a\n    image: b\n").documents

    assert doc.line == 2
    assert doc.lines[("spec", "containers", 0)] == 4
    assert doc.lines[("spec", "containers", 0, "image")] == 5
