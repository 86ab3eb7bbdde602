"""The output formats: JSON stable, SARIF valid against the 2.1.0 schema, JUnit read by junitparser."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import junitparser

from hitless.check.formats import FORMATS
from hitless.check.runner import run_check

from .helpers import SEED

SCHEMA = Path(__file__).with_name("sarif-schema-2.1.0.json")


def test_json_is_a_list_of_findings_with_stable_keys() -> None:
    out = json.loads(FORMATS["json"](run_check([str(SEED)])))
    assert isinstance(out, list) and len(out) == 12
    keys = ["rule", "severity", "message", "file", "line", "object", "field", "behaviour", "numbers", "fix"]
    assert all(list(f) == keys for f in out)
    first = out[0]
    assert first["object"] == {"kind": "Pod", "name": "nginx", "namespace": "default"}
    assert (first["rule"], first["line"], first["numbers"]) == ("single-replica", 7, {"replicas": 1})


def test_sarif_validates_against_the_official_2_1_0_schema() -> None:
    log = json.loads(FORMATS["sarif"](run_check([str(SEED)])))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(log)
    run = log["runs"][0]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["invalid-object"] == "error" and levels["exec-needs-binary"] == "note"
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert all(rule_ids[r["ruleIndex"]] == r["ruleId"] for r in run["results"])
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 7}


def test_the_schema_rejects_a_broken_log() -> None:
    # The schema is really applied: a result level SARIF does not know is refused.
    log = json.loads(FORMATS["sarif"](run_check([str(SEED)])))
    log["runs"][0]["results"][0]["level"] = "critical"
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert list(validator.iter_errors(log))


def test_junit_is_read_by_junitparser(tmp_path: Path) -> None:
    path = tmp_path / "check.xml"
    path.write_text(FORMATS["junit"](run_check([str(SEED)])))
    xml = junitparser.JUnitXml.fromfile(str(path))
    (suite,) = list(xml)
    cases = list(suite)
    failed = {c.name for c in cases if not c.is_passed}
    assert failed == {"Pod/nginx invalid-object", "Service/nginx service-selects-nothing"}
    assert suite.failures == 2
    by_name = {c.name: c for c in cases}
    assert "5084" in (by_name["Pod/nginx probe-port"].system_out or "")


def test_text_names_file_line_rule_and_summary() -> None:
    text = FORMATS["text"](run_check([str(SEED)]))
    assert f"{SEED}:37: error: Pod in version" in text
    assert "[invalid-object] (Pod/nginx)" in text
    assert text.rstrip().splitlines()[-1].startswith("3 object(s) checked: 3 error(s), 8 warning(s), 1 info")
