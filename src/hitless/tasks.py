"""The engine's long-running tasks: started under a supervisor, stopped with cancel_and_wait.

Every long-running task (a controller's watch and work queue, a kubelet's pod worker, a node's
proxy, the load balancer, the load generator, the API server) is started with :func:`spawn`,
naming its component. A task that ends with an exception nobody expected must not leave its
component silently dead while the run goes on (an EndpointSlice controller that stopped would
freeze every Service's endpoints, and later failures would be blamed on pods): the exception is
handed to the :class:`Supervisor` of the run that started it, which stops the run and reports
the component (exit 3, ``cli/errors.py``). Outside a supervised run (unit tests of one
component) the loop's exception handler gets it, as for any task nobody awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ComponentFailure:
    """One component's unexpected exception."""

    component: str
    error: BaseException


class ComponentFailed(Exception):
    """A supervised component failed; the run stops. ``failure`` names it and its exception."""

    def __init__(self, failure: ComponentFailure) -> None:
        super().__init__(f"{failure.component}: {type(failure.error).__name__}: {failure.error}")
        self.failure = failure


class Supervisor:
    """Collects the failures of the tasks spawned while it is current (:meth:`activate`).

    ``failed`` is set at the first failure; the run waits on it beside its own stop conditions.
    """

    def __init__(self) -> None:
        self.failures: list[ComponentFailure] = []
        self.failed = asyncio.Event()

    def report(self, component: str, error: BaseException) -> None:
        self.failures.append(ComponentFailure(component, error))
        self.failed.set()

    def activate(self) -> contextvars.Token[Supervisor | None]:
        """Make this the supervisor of every task spawned from this context on."""
        return _CURRENT.set(self)

    def check(self) -> None:
        """Raise :class:`ComponentFailed` for the first failure, if any."""
        if self.failures:
            raise ComponentFailed(self.failures[0])


_CURRENT: contextvars.ContextVar[Supervisor | None] = contextvars.ContextVar(
    "hitless_supervisor", default=None
)


def current_supervisor() -> Supervisor | None:
    return _CURRENT.get()


def spawn(component: str, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Start a long-running task of ``component`` under the current supervisor.

    Cancellation is a normal end; any other exception is reported to the supervisor (or to the
    loop's exception handler when there is none), so no task can die silently.
    """
    supervisor = _CURRENT.get()
    task = asyncio.get_running_loop().create_task(coro, name=component)

    def done(t: asyncio.Task[T]) -> None:
        if t.cancelled():
            return
        error = t.exception()
        if error is None:
            return
        if supervisor is not None:
            supervisor.report(component, error)
        else:
            t.get_loop().call_exception_handler(
                {"message": f"{component} failed", "exception": error, "task": t}
            )

    task.add_done_callback(done)
    return task


def report_failure(component: str, error: BaseException) -> None:
    """Report an unexpected exception that no task carries (a store listener's, a loop
    callback's) to the current supervisor, or to the running loop's exception handler."""
    supervisor = _CURRENT.get()
    if supervisor is not None:
        supervisor.report(component, error)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        # No loop, no supervisor (a synchronous unit test): nobody else would see it.
        raise error from None
    loop.call_exception_handler({"message": f"{component} failed", "exception": error})


def guarded(component: str, fn: Callable[[], object]) -> Callable[[], None]:
    """``fn`` as a loop callback (a timer's) whose unexpected exception is reported as
    ``component``'s failure, as a task's would be, rather than logged by the loop and forgotten."""

    def call() -> None:
        try:
            fn()
        except Exception as exc:
            report_failure(component, exc)

    return call


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the tasks, then wait until each has ended; their CancelledError is not raised.

    A task that failed before it was cancelled has already been reported by :func:`spawn`'s
    callback; its exception is not raised again here.
    """
    running = [t for t in tasks if t is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
