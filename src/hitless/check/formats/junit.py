"""``--format junit``: one test case per object and rule that reported, plus one per clean object.

Error-level findings are failures; warnings and infos pass with their text in system-out, so CI
fails exactly when ``hitless check`` exits 1 for findings.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from hitless.check.finding import Finding, Severity
from hitless.check.formats.safe import for_xml
from hitless.check.runner import Report


def _text(f: Finding) -> str:
    where = f"{f.file}:{f.line}"
    numbers = ", ".join(f"{k}={v}" for k, v in f.numbers.items())
    return f"{where}: {f.severity.value}: {f.message}\nfix: {f.fix}" + (
        f"\nnumbers: {numbers}" if numbers else ""
    )


def render(report: Report) -> str:
    cases: dict[tuple[str, str, str], list[Finding]] = defaultdict(list)
    for f in report.findings:
        obj = f"{f.kind}/{f.name}" if f.kind else "(file)"
        cases[(f.file, obj, f.rule)].append(f)
    reported = {(file, obj) for file, obj, _ in cases}
    suite = ET.Element("testsuite", name="hitless check")
    failures = 0
    for (file, obj, rule), findings in cases.items():
        case = ET.SubElement(suite, "testcase", classname=file, name=f"{obj} {rule}")
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            failures += 1
            failure = ET.SubElement(case, "failure", message=errors[0].message, type=rule)
            failure.text = "\n\n".join(_text(f) for f in errors)
        others = [f for f in findings if f.severity is not Severity.ERROR]
        if others:
            ET.SubElement(case, "system-out").text = "\n\n".join(_text(f) for f in others)
    for o in report.objects:
        if (o.file, f"{o.kind}/{o.name}") not in reported:
            ET.SubElement(suite, "testcase", classname=o.file, name=f"{o.kind}/{o.name}")
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    root = ET.Element(
        "testsuites", name="hitless check", tests=suite.get("tests", "0"), failures=str(failures)
    )
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + for_xml(ET.tostring(root, encoding="unicode")) + "\n"
