from __future__ import annotations

from tests.check.helpers import check_yaml, deployment, of
from tests.check.rules.test_pdb_blocks_eviction import pdb


def test_a_budget_matching_no_pod_template_is_reported() -> None:
    (f,) = of(
        check_yaml(deployment() + "---\n" + pdb("maxUnavailable: 1", "{matchLabels: {app: api}}")),
        "pdb-selects-nothing",
    )
    assert (f.severity.value, f.field, f.line) == ("warning", "spec.selector", 20)
    assert f.message.startswith("its selector matches no pod template in the input: it protects nothing")


def test_a_budget_of_another_namespace_selects_nothing_here() -> None:
    ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\n"
    other = pdb("maxUnavailable: 1").replace(
        "metadata: {name: web}", "metadata: {name: web, namespace: other}"
    )
    assert of(check_yaml(ns + deployment() + "---\n" + other), "pdb-selects-nothing")
    assert not of(check_yaml(deployment() + "---\n" + pdb("maxUnavailable: 1")), "pdb-selects-nothing")
