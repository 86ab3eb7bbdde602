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

    assert formatted(result) == [
        "test.yaml:2: error converting YAML to JSON: yaml: line 2: did not find expected ',' or ']'"
    ]
    assert [o.name for o in result.objects] == ["web"]


def test_duplicate_mapping_keys_are_an_error_as_in_strict_yaml_decoding() -> None:
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
            name: other
        """
    )

    assert formatted(result) == [
        'test.yaml:9: error converting YAML to JSON: yaml: unmarshal errors: line 9: key "name" already set '
        "in map"
    ]
    assert result.objects == []


def test_a_document_separator_followed_by_content_is_rejected_like_kubectl() -> None:
    result = load_yaml("--- {a: 1}\n")

    assert formatted(result) == ["test.yaml:1: invalid Yaml document separator: {a: 1}"]


def test_scalars_follow_yaml_1_1_as_go_yaml_v2() -> None:
    (doc,), problems = parse_stream(
        "a: yes\nb: off\nc: y\nd: 'y'\ne: 0755\nf: 1_000\ng: 2024-01-02\nh: 1:30\ni: ~\n"
    )

    assert problems == []
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
    (doc,), _ = parse_stream("base: &b {x: 1, z: 2}\nthing:\n  <<: *b\n  z: 3\n")

    assert doc.value["thing"] == {"z": 3, "x": 1}


def test_integral_floats_become_json_integers() -> None:
    assert json_normalize({"a": [10.0, 1.5], "b": 3}) == {"a": [10, 1.5], "b": 3}


def test_lines_of_fields_and_list_items() -> None:
    (doc,), _ = parse_stream("# c\nspec:\n  containers:\n  - name: a\n    image: b\n")

    assert doc.line == 2
    assert doc.lines[("spec", "containers", 0)] == 4
    assert doc.lines[("spec", "containers", 0, "image")] == 5
