"""Probe workers and the kubelet's use of their results, on a fake clock (kubelet.md §1, §3).

Pods are created after the kubelet has been up for longer than any probe period, so that the
start-up jitter (tested on its own) does not apply, unless a test says otherwise.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from hitless.kubelet.prober.probers.base import ProbeOutcome
from hitless.kubelet.prober.results import Result
from hitless.runtime.fake import FakeProgram

from .conftest import Env, fail, make_pod, ok

TCP = {"tcpSocket": {"port": 8080}}


def probe(**fields: Any) -> dict[str, Any]:
    spec = {**TCP, "periodSeconds": 1, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
    spec.update(fields)
    return spec


def container(**probes: Any) -> dict[str, Any]:
    return {"name": "app", "image": "x", "command": ["app"], **probes}


async def settled(env: Env) -> None:
    """Let the kubelet be older than any period: no start-up jitter for pods created now."""
    await env.clock.advance(100)


def ready(env: Env) -> bool:
    return env.pod().is_ready()


def unhealthy(env: Env) -> list[str]:
    return [m for r, m in env.events("Unhealthy")]


def times_recorded(env: Env, message: str) -> int:
    """How often an Event was recorded: repeats are one Event with a count, as client-go does."""
    return sum(e.to_json()["count"] for e in env.store.objects("Event") if e.to_json()["message"] == message)


async def test_readiness_starts_failed_and_is_probed_at_once(env: Env) -> None:
    await settled(env)
    env.store.create(make_pod(containers=[container(readinessProbe=probe(periodSeconds=10))]))
    await env.clock.advance(0.1)
    # Not ready until the first success; the first probe runs at once, not a period later.
    assert env.prober.times("app", "Readiness") == [100]
    assert ready(env)
    st = env.status()
    assert st.ready and st.started


async def test_readiness_thresholds_and_transition_times(env: Env) -> None:
    await settled(env)
    env.prober.script("app", "Readiness", lambda t: fail() if 110 <= t < 120 else ok())
    env.store.create(make_pod(containers=[container(readinessProbe=probe(successThreshold=2))]))
    await env.clock.advance(5)
    assert ready(env)  # two consecutive successes at 100 and 101
    await env.clock.advance(6)  # failures at 110 and 111: below the threshold of 3
    assert ready(env)
    await env.clock.advance(1)  # the third failure, at 112
    assert not ready(env)
    cond = env.pod().status.condition("Ready")
    assert cond is not None and cond.reason == "ContainersNotReady"
    assert cond.message == "containers with unready status: [app]"
    assert cond.last_transition_time == env.clock.wall_at(112)
    await env.clock.advance(10)  # successes from 120; ready again at the second one, 121
    assert ready(env)
    cond = env.pod().status.condition("Ready")
    assert cond is not None and cond.last_transition_time == env.clock.wall_at(121)
    # Every failure is an Event, below the threshold too: one per tick from 110 to 119, and one
    # more from the extra probe the kubelet runs when the container's status shows it not ready.
    assert times_recorded(env, "Readiness probe failed: HTTP probe failed with statuscode: 503") == 11


async def test_liveness_failure_kills_and_restarts(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0)
    await settled(env)
    env.prober.script("app", "Liveness", lambda t: fail() if 104 <= t < 107 else ok())
    env.store.create(make_pod(containers=[container(livenessProbe=probe())]))
    await env.clock.advance(10)
    # Failures at 104, 105, 106: the third trips it, the container is killed and restarted.
    assert env.starts()[:2] == [100, 106]
    assert env.status().restart_count >= 1
    assert ("Killing", "Container app failed liveness probe, will be restarted") in env.events("Killing")
    assert times_recorded(env, "Liveness probe failed: HTTP probe failed with statuscode: 503") == 3


async def test_liveness_kill_uses_the_probes_grace_period(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)  # ignores SIGTERM
    await settled(env)
    env.prober.script("app", "Liveness", lambda t: fail() if t < 104 else ok())
    pod = make_pod(
        containers=[container(livenessProbe=probe(terminationGracePeriodSeconds=4))],
        terminationGracePeriodSeconds=60,
    )
    env.store.create(pod)
    await env.clock.advance(30)
    # The worker's first look (100) finds no container in the API status yet, as the kubelet's
    # does before the next status update; failures at 101, 102, 103, then the kill with the
    # probe's own 4 s, and the restart.
    assert env.signals() == [(103, "SIGTERM"), (107, "SIGKILL")]
    assert env.starts() == [100, 107]
    assert ("Killing", "Container app failed liveness probe, will be restarted") in env.events("Killing")


async def test_liveness_failure_with_never_kills_the_whole_pod(env: Env, programs: dict) -> None:
    # computePodActions: with restartPolicy Never nothing is kept and nothing restarts, so the
    # kubelet kills the pod (KillPod), which uses the pod's grace period, not the probe's, and
    # the plain "Stopping container" message.
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    await settled(env)
    env.prober.script("app", "Liveness", lambda t: fail())
    pod = make_pod(
        containers=[container(livenessProbe=probe(terminationGracePeriodSeconds=4))],
        restartPolicy="Never",
        terminationGracePeriodSeconds=10,
    )
    env.store.create(pod)
    await env.clock.advance(30)
    assert env.signals() == [(103, "SIGTERM"), (113, "SIGKILL")]
    assert env.starts() == [100]
    assert env.events("Killing") == [("Killing", "Stopping container app")]
    assert env.pod().status.phase == "Failed"


async def test_startup_probe_gates_liveness_and_readiness(env: Env) -> None:
    await settled(env)
    env.prober.script("app", "Startup", lambda t: ok() if t >= 105 else fail())
    env.prober.script("app", "Liveness", lambda t: fail())  # would kill if it ran
    env.store.create(
        make_pod(
            containers=[
                container(
                    startupProbe=probe(failureThreshold=30),
                    livenessProbe=probe(failureThreshold=100),
                    readinessProbe=probe(),
                )
            ]
        )
    )
    await env.clock.advance(3)
    assert not env.status().started
    assert env.prober.times("app", "Liveness") == []
    assert env.prober.times("app", "Readiness") == []
    await env.clock.advance(4)
    startup = env.prober.times("app", "Startup")
    # The startup probe stops after its first success; then the others begin.
    assert startup == [101, 102, 103, 104, 105]
    assert env.status().started
    assert env.prober.times("app", "Readiness")[0] >= 105
    assert env.prober.times("app", "Liveness")[0] >= 105
    assert env.events("Killing") == []


async def test_startup_failure_kills_with_its_message(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=0)
    await settled(env)
    env.prober.script("app", "Startup", lambda t: fail())
    env.store.create(make_pod(containers=[container(startupProbe=probe(failureThreshold=5))]))
    await env.clock.advance(6)
    assert ("Killing", "Container app failed startup probe, will be restarted") in env.events("Killing")
    assert env.starts()[:2] == [100, 105]  # failures at 101-105


async def test_initial_delay_counts_from_container_start(env: Env) -> None:
    await settled(env)
    env.store.create(
        make_pod(containers=[container(livenessProbe=probe(initialDelaySeconds=5, periodSeconds=2))])
    )
    await env.clock.advance(20)
    # Ticks at 100, 102, 104, ...: the first at or after start (100) + 5 is 106.
    assert env.prober.times("app", "Liveness")[0] == 106


async def test_errors_are_retried_three_times_and_change_nothing(env: Env) -> None:
    await settled(env)
    env.prober.script(
        "app", "Readiness", lambda t: ProbeOutcome(Result.UNKNOWN, error="couldn't find port: http in app")
    )
    env.store.create(make_pod(containers=[container(readinessProbe=probe(periodSeconds=10))]))
    await env.clock.advance(25)
    assert not ready(env)  # the initial Failure stays: errors never make a container ready
    assert len(env.prober.times("app", "Readiness")) % 3 == 0
    assert (
        "Readiness probe errored and resulted in unknown state: couldn't find port: http in app"
        in unhealthy(env)
    )


async def test_warning_counts_as_success_with_an_event(env: Env) -> None:
    await settled(env)
    env.prober.script(
        "app",
        "Readiness",
        lambda t: ProbeOutcome(Result.WARNING, "Probe terminated redirects, Response body: "),
    )
    env.store.create(make_pod(containers=[container(readinessProbe=probe())]))
    await env.clock.advance(0.5)
    assert ready(env)
    warnings = [m for r, m in env.events("ProbeWarning")]
    assert warnings == ["Readiness probe warning: Probe terminated redirects, Response body: "]


async def test_readiness_goes_on_during_termination_liveness_stops(env: Env, programs: dict) -> None:
    programs["app"] = lambda c: FakeProgram(on_stop_signal=None)
    await settled(env)
    env.prober.script("app", "Readiness", lambda t: fail() if t >= 103 else ok())
    env.store.create(
        make_pod(
            containers=[container(readinessProbe=probe(), livenessProbe=probe())],
            terminationGracePeriodSeconds=10,
        )
    )
    await env.clock.advance(2)
    assert ready(env)
    env.store.delete("Pod", "default", "web")
    liveness_before = len(env.prober.times("app", "Liveness"))
    await env.clock.advance(3)
    # The pod is terminating (SIGTERM ignored): readiness still probes and flips it to not ready.
    assert not ready(env)
    assert len(env.prober.times("app", "Liveness")) == liveness_before
    readiness_during = [t for t in env.prober.times("app", "Readiness") if t > 102]
    assert readiness_during


async def test_startup_jitter_only_while_the_kubelet_is_young(env: Env) -> None:
    env.store.create(make_pod(containers=[container(livenessProbe=probe(periodSeconds=10))]))
    await env.clock.advance(30)
    first = env.prober.times("app", "Liveness")[0]
    assert 0 < first < 10  # a random delay within one period
    await env.clock.advance(100)
    late_container = {**container(livenessProbe=probe(periodSeconds=10)), "name": "late"}
    env.store.create(make_pod("late", containers=[late_container]))
    await env.clock.advance(15)
    # No jitter now: the worker looks at once (130), finds no container in the API status yet,
    # and probes on its first tick.
    assert env.prober.times("late", "Liveness")[0] == 140


async def test_ticks_keep_the_phase_of_the_delay_when_the_loop_wakes_late(env: Env) -> None:
    # Go's timers fire on time; here a busy event loop may run the end of the random delay
    # late, and hundreds of workers woken together must not all tick in that same phase.
    env.store.create(make_pod(containers=[container(livenessProbe=probe(periodSeconds=10))]))
    await env.clock.settle()
    env.clock._now += 9.99  # the loop was busy: every timer due by now fires late, together
    await env.clock.advance(30)
    times = env.prober.times("app", "Liveness")
    assert times[0] == pytest.approx(9.99)  # the first probe when the worker could run
    # Then one period after the delay was due (Random(0): ~7.3 s), not after the late wake-up.
    assert times[1] < 19.98
    assert [b - a for a, b in itertools.pairwise(times[1:4])] == pytest.approx([10, 10])


async def test_slow_probe_is_followed_at_once_by_the_next(env: Env) -> None:
    await settled(env)
    env.prober.script("app", "Liveness", lambda t: (ok(), 2.5))
    env.store.create(make_pod(containers=[container(livenessProbe=probe(periodSeconds=1, timeoutSeconds=5))]))
    await env.clock.advance(10)
    times = env.prober.times("app", "Liveness")
    # Each probe takes 2.5 s; ticks missed meanwhile are dropped but one is kept: back to back.
    assert times[:4] == [101, 103.5, 106, 108.5]


async def test_not_running_reads_failure_and_counters_carry_over(env: Env, programs: dict) -> None:
    # The container exits at 103: readiness reads Failure; after the restart the run of
    # successes from the old instance carries over (worker.go keeps lastResult/resultRun).
    programs["app"] = lambda c: FakeProgram(exit_after=3 if c.attempt == 0 else None, exit_code=1)
    await settled(env)
    env.store.create(make_pod(containers=[container(readinessProbe=probe(successThreshold=3))]))
    await env.clock.advance(5)
    flags = [(t, p.is_ready()) for t, _, p in env.history if p.status.container_statuses]
    pairs = list(itertools.pairwise(flags))
    became_ready = [t for (_, before), (t, now) in pairs if now and not before]
    lost = [t for (_, before), (t, now) in pairs if before and not now]
    # Ready after three successes; not ready once the container exited (a container that is not
    # running reads Failure); ready again on the new instance's *first* success, because the run
    # of successes carries over from the old instance (worker.go keeps lastResult/resultRun).
    assert len(became_ready) == 2 and len(lost) == 1
    assert became_ready[0] < lost[0] == 103 <= became_ready[1] < 104
    assert env.status().restart_count == 1
