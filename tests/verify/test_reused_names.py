"""A StatefulSet's replacement pod takes its predecessor's name: the timeline keeps both lives,
and a request is judged against the pod of that name that existed when it was routed."""

from __future__ import annotations

from hitless.api.types.meta import ObjectMeta
from hitless.api.types.pod import Pod, PodCondition, PodSpec, PodStatus
from hitless.clock import FakeClock
from hitless.store.store import WatchEvent
from hitless.verify.observe import TimelineRecorder
from hitless.verify.timeline import GONE, READY, Timeline


def _pod(uid: str, ready: bool, deleted: bool = False) -> Pod:
    pod = Pod(
        metadata=ObjectMeta(name="web-2", namespace="default", uid=uid),
        spec=PodSpec(containers=[], node_name="node-1"),
        status=PodStatus(conditions=[PodCondition(type="Ready", status="True" if ready else "False")]),
    )
    if deleted:
        pod.metadata.deletion_timestamp = FakeClock().wall()
    return pod


async def test_a_reused_name_is_a_new_life_and_lookups_go_by_time() -> None:
    clock = FakeClock()
    timeline = Timeline()
    record = TimelineRecorder(timeline, clock)
    for at, kind, pod in [
        (0.0, "ADDED", _pod("a", ready=False)),
        (1.0, "MODIFIED", _pod("a", ready=True)),
        (5.0, "MODIFIED", _pod("a", ready=True, deleted=True)),
        (8.0, "DELETED", _pod("a", ready=False, deleted=True)),
        (8.5, "ADDED", _pod("b", ready=False)),
        (10.0, "MODIFIED", _pod("b", ready=True)),
    ]:
        await clock.advance(at - clock.now())
        record(WatchEvent(kind, pod, 0))  # type: ignore[arg-type]
    old, new = timeline.lives()
    assert (old.uid, old.created, old.gone) == ("a", 0.0, 8.0)
    assert (new.uid, new.created, new.gone) == ("b", 8.5, None)
    assert timeline.life("default/web-2", 3.0) is old
    assert timeline.life("default/web-2", 9.0) is new
    assert timeline.life("default/web-2") is new
    assert old.phase_at(9.0) == GONE and new.phase_at(11.0) == READY
    assert [timeline.ready_count(t) for t in (3.0, 9.0, 11.0)] == [1, 0, 1]
