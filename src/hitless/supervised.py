"""How ``hitless up`` and ``hitless verify`` end a run whose component failed (beside the engine:
the CLI and verify's library call both use it).

Both run the engine with a :class:`~hitless.tasks.Supervisor` current, so every component's
long-running task reports an unexpected exception to it (``hitless.tasks.spawn``; store
listeners through ``report_failure``). The run waits on ``supervisor.failed`` beside its own stop
conditions; at the first failure it stops as on Ctrl-C (every pod deleted gracefully), but within
a bound, since the failed component may be the one that would have finished the pods; then
:func:`raise_if_failed` turns the failure into ``ComponentFailed``, which the ``hitless``
dispatcher reports as exit 3 naming the component (``cli/errors.py``), never as a verdict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hitless.clock import wait_for
from hitless.engine import Engine
from hitless.tasks import Supervisor

# After a failure: the pods' own grace periods, plus this, before every container is SIGKILLed.
FAILED_STOP_MARGIN = 5.0
# After that SIGKILL: how long the kubelets get to see their containers gone.
KILL_WAIT = 10.0
# The pods' grace period when their spec does not say (the API server's default).
DEFAULT_GRACE = 30


def supervise() -> Supervisor:
    """A supervisor for the tasks spawned from the calling task on (the run's main task)."""
    supervisor = Supervisor()
    supervisor.activate()
    return supervisor


def _longest_grace(engine: Engine) -> float:
    graces = [
        p.spec.termination_grace_period_seconds
        if p.spec.termination_grace_period_seconds is not None
        else DEFAULT_GRACE
        for p in engine.pods()
    ]
    return float(max(graces, default=0))


async def stop_engine(
    engine: Engine,
    supervisor: Supervisor,
    note: Callable[[str], None],
    before_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Delete every pod gracefully, then stop the engine (``before_stop`` first: what serves the
    engine's store to clients, such as the API server, goes before the store's writers).

    While the run is healthy this waits as long as the pods take, as ``hitless up`` always has.
    Once a component has failed (before or during the stop), the pods get their grace periods
    and a margin; what is still running then is killed at once, so that the run ends promptly.
    """
    clock = engine.clock
    deleting = asyncio.ensure_future(engine.delete_all_pods())
    failed = asyncio.ensure_future(supervisor.failed.wait())
    try:
        await asyncio.wait([deleting, failed], return_when=asyncio.FIRST_COMPLETED)
        if not deleting.done():
            finished, _ = await wait_for(
                clock, asyncio.shield(deleting), _longest_grace(engine) + FAILED_STOP_MARGIN
            )
            if not finished:
                note("a component failed and pods are still terminating: killing every container now")
                engine.kill_now()
                finished, _ = await wait_for(clock, asyncio.shield(deleting), KILL_WAIT)
            if not finished:
                deleting.cancel()
    finally:
        failed.cancel()
    error = None if deleting.cancelled() else deleting.exception()
    if error is not None and not supervisor.failures:
        raise error
    if before_stop is not None:
        await before_stop()
    await engine.stop()


def raise_if_failed(supervisor: Supervisor) -> None:
    """After the stop: raise ``ComponentFailed`` for the run's first failure, if any."""
    supervisor.check()
