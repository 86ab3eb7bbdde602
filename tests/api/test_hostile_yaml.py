"""Hostile YAML and values, read as the API server reads them: never an exception, always the
message kubectl would give (with file:line), and bombs refused fast and small."""

from __future__ import annotations

import resource
import time
import tracemalloc
from pathlib import Path

import pytest

from hitless.api import load, load_text
from hitless.api.goyaml import GoYamlError, format_float32, resolve_plain, resolve_tagged
from hitless.api.yamlbuild import allowed_alias_ratio
from hitless.api.yamlsource import parse_stream

from .helpers import formatted

HOSTILE = Path(__file__).parent.parent / "fixtures" / "hostile"


@pytest.mark.parametrize("fixture", sorted(HOSTILE.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_hostile_fixture_gives_its_message(fixture: Path) -> None:
    expect = fixture.read_bytes().split(b"\n", 1)[0].decode().removeprefix("# expect:").strip()
    result = load([str(fixture)])
    if not expect:
        assert result.errors == []
        return
    assert result.errors, "expected an error"
    assert expect in result.errors[0].message
    assert result.errors[0].line >= 1  # every such error names its line


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("0755", 493),
        ("0o17", 15),
        ("0x1F", 31),
        ("08", 8.0),  # no octal: ParseInt fails, the float regexp matches
        ("1e3", 1000.0),
        ("1e400", "1e400"),  # ParseFloat: out of range, so a string
        ("0x_", "0x_"),
        ("1_000", 1000),
        ("99999999999999999999", 1e20),
        ("18446744073709551615", 2**64 - 1),  # ParseUint
        ("-0b101", -5),
        ("yes", True),
        ("y", True),
        ("off", False),
        ("~", None),
        ("", None),
        ("2001-12-14", "2001-12-14"),
        ("1:30", "1:30"),
        (".5", 0.5),
    ],
)
def test_plain_scalars_resolve_as_go_yaml_v2(text: str, value: object) -> None:
    assert resolve_plain(text) == value
    assert type(resolve_plain(text)) is type(value)


@pytest.mark.parametrize(
    ("tag", "text", "message"),
    [
        ("int", "x", "cannot decode !!str `x` as a !!int"),
        ("int", "5.5", "cannot decode !!float `5.5` as a !!int"),
        ("bool", "maybe", "cannot decode !!str `maybe` as a !!bool"),
        ("null", "foo", "cannot decode !!str `foo` as a !!null"),
        ("timestamp", "2001-13-14", "cannot decode !!str `2001-13-14` as a !!timestamp"),
        ("binary", "!!", "!!binary value contains invalid base64 data"),
    ],
)
def test_explicit_tags_the_value_does_not_fit_fail_as_in_go_yaml(tag: str, text: str, message: str) -> None:
    with pytest.raises(GoYamlError, match=message.replace("!", "\\!").replace(".", "\\.")):
        resolve_tagged("tag:yaml.org,2002:" + tag, text)


def test_explicit_tags_that_fit_convert() -> None:
    assert resolve_tagged("tag:yaml.org,2002:float", "5") == 5.0
    assert resolve_tagged("tag:yaml.org,2002:str", "5") == "5"
    assert resolve_tagged("tag:yaml.org,2002:binary", "aGk=") == "hi"
    assert resolve_tagged("!custom", "anything") == "anything"


def test_keys_become_json_keys_as_sigs_k8s_io_yaml_writes_them() -> None:
    (doc,) = parse_stream("1: a\nyes: b\n1.5: c\n1e6: d\n0.1: e\n").documents
    assert list(doc.value) == ["1", "true", "1.5", "1e+06", "0.1"]
    assert format_float32(123.456) == "123.456"


def test_a_duplicate_key_costs_only_the_value_it_replaces() -> None:
    # The lines of a replaced value are forgotten by walking that value, not every line.
    text = "a:\n" + "".join(f"  k: {{x{i}: 1}}\n" for i in range(5_000))
    start = time.process_time()
    (doc,) = parse_stream(text).documents
    assert time.process_time() - start < 1.0  # quadratic, it took 3 s
    assert doc.value == {"a": {"k": {"x4999": 1}}}
    assert ("a", "k", "x0") not in doc.lines


def test_alias_budget_follows_go_yaml_ratio() -> None:
    assert allowed_alias_ratio(1000) == 0.99
    assert allowed_alias_ratio(4_000_000) == 0.10
    assert allowed_alias_ratio(2_200_000) == pytest.approx(0.545)


def test_aliases_within_the_budget_are_expanded() -> None:
    (doc,) = parse_stream("a: &a {x: 1}\nb: [*a, *a, *a]\n").documents
    assert doc.value["b"] == [{"x": 1}] * 3


def _laughs() -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: lol}", "data:", '  a0: &a0 "lol"']
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


def _at_the_limit() -> str:
    # 4,000 plain decodes, then aliases until go-yaml's 99% share runs out near 400,000 decodes.
    base = "b: &b {" + ", ".join(f"k{i}: v" for i in range(2000)) + "}\n"
    return base + "c: [" + ", ".join(["*b"] * 190) + "]\n"


@pytest.mark.parametrize("text", [_laughs(), _at_the_limit()], ids=["billion-laughs", "at-go-yaml-limit"])
def test_a_yaml_bomb_is_refused_in_under_a_second(text: str) -> None:
    start = time.process_time()  # CPU time: other processes on the machine do not count
    result = load_text(text, "bomb.yaml")
    elapsed = time.process_time() - start
    assert formatted(result)[0].endswith("yaml: document contains excessive aliasing")
    assert elapsed < 1.0


def test_a_yaml_bomb_is_refused_in_under_100_mb() -> None:
    # The document at go-yaml's limit peaks near 20 MB (docs/reliability.md); tracemalloc slows it
    # tenfold, so only the classic bomb is traced here.
    text = _laughs()
    tracemalloc.start()
    try:
        load_text(text, "bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 2**20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 2**20  # KiB: the process stays under 1 GiB


def test_deep_nesting_within_libyaml_limit_does_not_exhaust_the_stack() -> None:
    (doc,) = parse_stream("a: " + "[" * 990 + "x" + "]" * 990 + "\n").documents
    value = doc.value["a"]
    for _ in range(990):
        value = value[0]
    assert value == "x"
    assert max(len(p) for p in doc.lines) <= 64  # lines kept to LINE_DEPTH only


def test_a_redefined_anchor_is_an_error_that_says_why() -> None:
    result = load_text("a: &x 1\nb: &x 2\nc: *x\n", "f.yaml")
    assert "anchor 'x' is defined again (first at line 1)" in formatted(result)[0]
