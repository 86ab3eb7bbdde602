"""StatefulSets on a fake clock: ordinal order, the rolling update from the top, partitions,
revisions and status, as stateful_set_control.go does them."""

from __future__ import annotations

from pathlib import Path

from hitless.api.types.controllerrevision import ControllerRevision
from hitless.api.types.pod import Pod
from hitless.api.types.statefulset import StatefulSet
from hitless.controllers.controller_utils import is_pod_ready

from .conftest import READY_AFTER
from .workloads import Workloads, set_version, statefulset, workloads_cluster


def sts(w: Workloads, name: str = "web") -> StatefulSet:
    s = w.get("StatefulSet", name)
    assert isinstance(s, StatefulSet)
    return s


def rolled(w: Workloads) -> bool:
    s = sts(w)
    return (
        s.status.observed_generation == s.metadata.generation
        and s.status.current_revision == s.status.update_revision
        and (s.status.ready_replicas or 0) == s.spec.replicas
        and len(w.pods()) == s.spec.replicas
    )


def ready_times(w: Workloads) -> dict[str, float]:
    """When each pod name (latest pod of that name) became Ready."""
    out: dict[str, float] = {}
    for t, _, pod in w.trace:
        if is_pod_ready(pod) and pod.metadata.deletion_timestamp is None:
            out.setdefault(f"{pod.name}/{pod.metadata.uid}", t)
    return out


async def test_ordered_ready_creates_in_order_each_after_ready(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(statefulset(annotations={READY_AFTER: "2"}))
        await w.until(lambda: rolled(w))
        created = [p.name for t, kind, p in w.trace if kind == "ADDED"]
        assert created == ["web-0", "web-1", "web-2"]
        ready = ready_times(w)
        created_at = {p.name: t for t, kind, p in w.trace if kind == "ADDED"}
        by_name = {k.split("/")[0]: v for k, v in ready.items()}
        assert created_at["web-1"] >= by_name["web-0"] and created_at["web-2"] >= by_name["web-1"]
        pod = w.get("Pod", "web-1")
        assert isinstance(pod, Pod)
        assert pod.spec.hostname == "web-1" and pod.spec.subdomain == "web"
        labels = pod.metadata.labels or {}
        s = sts(w)
        assert labels["statefulset.kubernetes.io/pod-name"] == "web-1"
        assert labels["apps.kubernetes.io/pod-index"] == "1"
        assert labels["controller-revision-hash"] == s.status.update_revision
        assert w.events("SuccessfulCreate")[:3] == [
            "create Pod web-0 in StatefulSet web successful",
            "create Pod web-1 in StatefulSet web successful",
            "create Pod web-2 in StatefulSet web successful",
        ]
        status = s.status.to_json()
        assert status == {
            "observedGeneration": 1,
            "replicas": 3,
            "readyReplicas": 3,
            "currentReplicas": 3,
            "updatedReplicas": 3,
            "currentRevision": s.status.current_revision,
            "updateRevision": s.status.update_revision,
            "collisionCount": 0,
            "availableReplicas": 3,
        }
        (revision,) = [r for r in w.store.objects("ControllerRevision") if isinstance(r, ControllerRevision)]
        assert revision.name == s.status.update_revision and revision.revision == 1
        assert revision.to_json()["data"]["spec"]["template"]["$patch"] == "replace"


async def test_rolling_update_goes_2_1_0_each_after_ready(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(statefulset(annotations={READY_AFTER: "2"}))
        await w.until(lambda: rolled(w))
        old_revision = sts(w).status.current_revision
        start = len(w.trace)
        w.update("StatefulSet", "web", set_version("v2"))
        await w.until(lambda: rolled(w) and sts(w).status.current_revision != old_revision)
        trace = w.trace[start:]
        deleted = [
            p.name for _, kind, p in trace if kind == "MODIFIED" and p.metadata.deletion_timestamp is not None
        ]
        assert list(dict.fromkeys(deleted)) == ["web-2", "web-1", "web-0"]
        # Each deletion waits for the previous ordinal's replacement to be Ready.
        first_delete = {}
        for t, _kind, p in trace:
            if p.metadata.deletion_timestamp is not None:
                first_delete.setdefault(p.name, t)
        new_ready = {}
        for t, _, p in trace:
            if is_pod_ready(p) and (p.metadata.annotations or {}).get("version") == "v2":
                new_ready.setdefault(p.name, t)
        assert first_delete["web-1"] >= new_ready["web-2"]
        assert first_delete["web-0"] >= new_ready["web-1"]
        # Never more than one pod down at a time.
        s = sts(w)
        assert s.status.current_revision == s.status.update_revision != old_revision
        assert all((p.metadata.annotations or {}).get("version") == "v2" for p in w.pods())
        assert "delete Pod web-2 in StatefulSet web successful" in w.events("SuccessfulDelete")


async def test_partition_holds_the_lower_ordinals(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(statefulset(updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}))
        await w.until(lambda: rolled(w))

        def versions() -> dict[str, str]:
            return {p.name: (p.metadata.annotations or {}).get("version", "") for p in w.pods()}

        w.update("StatefulSet", "web", set_version("v2"))
        await w.until(
            lambda: (
                versions() == {"web-0": "v1", "web-1": "v1", "web-2": "v2"}
                and all(is_pod_ready(p) for p in w.pods())
            )
        )
        await w.run(20)
        assert versions() == {"web-0": "v1", "web-1": "v1", "web-2": "v2"}
        s = sts(w)
        assert s.status.current_revision != s.status.update_revision
        assert (s.status.updated_replicas, s.status.current_replicas) == (1, 2)
        # A deleted pod below the partition comes back at the current revision.
        w.store.delete("Pod", "default", "web-0")
        await w.until(lambda: "web-0" in versions() and all(is_pod_ready(p) for p in w.pods()))
        assert versions()["web-0"] == "v1"

        def lower(s: StatefulSet) -> None:
            assert s.spec.update_strategy.rolling_update is not None
            s.spec.update_strategy.rolling_update.partition = 0

        w.update("StatefulSet", "web", lower)
        await w.until(lambda: rolled(w) and set(versions().values()) == {"v2"})


async def test_scale_down_goes_from_the_highest_ordinal(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(statefulset(replicas=3))
        await w.until(lambda: rolled(w))

        def scale(s: StatefulSet) -> None:
            s.spec.replicas = 1

        start = len(w.trace)
        w.update("StatefulSet", "web", scale)
        await w.until(lambda: rolled(w))
        deleted = [p.name for _, k, p in w.trace[start:] if k == "MODIFIED" and p.metadata.deletion_timestamp]
        assert list(dict.fromkeys(deleted)) == ["web-2", "web-1"]
        assert [p.name for p in w.pods()] == ["web-0"]


async def test_parallel_creates_all_at_once(tmp_path: Path) -> None:
    async with workloads_cluster(tmp_path) as w:
        w.apply(statefulset(podManagementPolicy="Parallel", annotations={READY_AFTER: "5"}))
        await w.run(1)
        assert [p.name for p in w.pods()] == ["web-0", "web-1", "web-2"]
        assert not any(is_pod_ready(p) for p in w.pods())


async def test_claims_one_per_ordinal_survive_the_pod(tmp_path: Path) -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    async with workloads_cluster(tmp_path) as w:
        w.apply(statefulset(replicas=2, volumeClaimTemplates=[claim]))
        await w.until(lambda: rolled(w))
        claims = sorted(c.name for c in w.store.objects("PersistentVolumeClaim"))
        assert claims == ["data-web-0", "data-web-1"]
        pod = w.get("Pod", "web-1")
        volumes = pod.to_json()["spec"]["volumes"]
        assert volumes == [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}}]
        uid = w.get("PersistentVolumeClaim", "data-web-1").metadata.uid
        w.store.delete("Pod", "default", "web-1")
        await w.until(lambda: rolled(w) and w.get("Pod", "web-1").metadata.deletion_timestamp is None)
        assert w.get("PersistentVolumeClaim", "data-web-1").metadata.uid == uid
        assert "create Claim data-web-0 Pod web-0 in StatefulSet web success" in w.events("SuccessfulCreate")


async def test_apply_rolls_a_new_template_and_refuses_other_spec_changes(tmp_path: Path) -> None:
    import json

    from hitless.api import load_text
    from hitless.store.apply import Applier

    def loaded(manifest: dict[str, object]) -> list[StatefulSet]:
        result = load_text(json.dumps(manifest), "test.yaml")
        assert not result.errors
        return [o.obj for o in result.objects if isinstance(o.obj, StatefulSet)]

    async with workloads_cluster(tmp_path) as w:
        applier = Applier(w.store)
        assert not applier.apply(loaded(statefulset(replicas=2))).errors
        await w.until(lambda: rolled(w))
        changed = statefulset(replicas=2)
        changed["spec"]["serviceName"] = "other"  # type: ignore[index]
        refused = applier.apply(loaded(changed))
        assert refused.errors == [
            'statefulset.apps/web: The StatefulSet "web" is invalid: spec: Forbidden: updates to statefulset '
            "spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
            "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        ]
        result = applier.apply(loaded(statefulset(replicas=2, version="v2")))
        assert result.lines == ["statefulset.apps/web configured"]
        await w.until(lambda: rolled(w) and {p.metadata.annotations["version"] for p in w.pods()} == {"v2"})


async def test_retention_policy_deletes_claims_on_scale_down_and_with_the_set(tmp_path: Path) -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    policy = {"whenScaled": "Delete", "whenDeleted": "Delete"}
    async with workloads_cluster(tmp_path) as w:
        w.apply(
            statefulset(replicas=3, volumeClaimTemplates=[claim], persistentVolumeClaimRetentionPolicy=policy)
        )
        await w.until(lambda: rolled(w))

        def claims() -> list[str]:
            return sorted(c.name for c in w.store.objects("PersistentVolumeClaim"))

        assert claims() == ["data-web-0", "data-web-1", "data-web-2"]
        owners = w.get("PersistentVolumeClaim", "data-web-0").metadata.owner_references
        assert [(r.kind, r.name, r.controller) for r in owners] == [("StatefulSet", "web", None)]

        def scale(s: StatefulSet) -> None:
            s.spec.replicas = 1

        w.update("StatefulSet", "web", scale)
        await w.until(lambda: rolled(w) and claims() == ["data-web-0"])
        w.store.delete("StatefulSet", "default", "web")
        await w.until(lambda: not claims() and not w.store.pods())


async def test_retained_claims_outlive_scale_down(tmp_path: Path) -> None:
    claim = {"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}}
    async with workloads_cluster(tmp_path) as w:
        w.apply(statefulset(replicas=2, volumeClaimTemplates=[claim]))
        await w.until(lambda: rolled(w))

        def scale(s: StatefulSet) -> None:
            s.spec.replicas = 1

        w.update("StatefulSet", "web", scale)
        await w.until(lambda: rolled(w))
        await w.run(5)
        assert sorted(c.name for c in w.store.objects("PersistentVolumeClaim")) == [
            "data-web-0",
            "data-web-1",
        ]
