"""Deleting the run's throwaway namespace as ``kubectl delete namespace NS`` does: the DELETE, then
a bounded wait until the namespace is gone (``--wait``; kubectl's own bound is a week, the run's
is :data:`NAMESPACE_GONE_TIMEOUT`). A namespace can outlive its DELETE for good: a
``metadata.finalizers`` entry whose owner never removes it, content the namespace controller
cannot delete (``status.conditions`` says which), or a DELETE refused outright (RBAC, an
admission webhook). Then the run must not hang: it says plainly that the namespace is left, why,
and the kubectl command that finishes it, on stderr and in report.json (``cluster.cleanup``).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import sys
from typing import Any

import aiohttp

from hitless.clock import Clock, wait_for
from hitless.kube.client import JSON, ApiError, KubeClient, Reflector
from hitless.tasks import cancel_and_wait, spawn

# Long enough for a namespace whose pods terminate gracefully (30 s by default, plus preStop).
NAMESPACE_GONE_TIMEOUT = 120.0


def kubectl(kubeconfig: str | None, context: str | None) -> str:
    """The kubectl invocation that reaches the same cluster as the run."""
    words = ["kubectl"]
    if kubeconfig:
        words += ["--kubeconfig", kubeconfig]
    if context:
        words += ["--context", context]
    return shlex.join(words)


async def delete_namespace(
    client: KubeClient, namespace: str, clock: Clock, cli: str, timeout: float | None = None
) -> dict[str, Any]:
    """Delete ``namespace`` and wait until it is gone; what happened, for ``cluster.cleanup``.

    ``deleted`` is false when the namespace is left; ``left`` then says why and ``command`` is
    what finishes it (both also printed on stderr).
    """
    timeout = NAMESPACE_GONE_TIMEOUT if timeout is None else timeout
    done: dict[str, Any] = {"namespace": namespace, "deleted": True}
    try:
        await client.request("DELETE", f"/api/v1/namespaces/{namespace}")
    except ApiError as exc:
        if exc.code != 404:
            return _left(done, f"the DELETE was refused: {exc}", f"{cli} delete namespace {namespace}")
        return done
    except (OSError, aiohttp.ClientError, TimeoutError) as exc:
        why = f"the DELETE did not reach the server: {exc!r}"
        return _left(done, why, f"{cli} delete namespace {namespace}")
    seen: dict[str, JSON] = {}
    gone = asyncio.Event()

    def on_event(kind: str, obj: JSON, at: float) -> None:
        if kind == "DELETED":
            gone.set()
        else:
            seen["last"] = obj

    # kubectl delete --wait: a watch on the one object (field selector metadata.name) from a
    # list, until it is deleted (kubectl/pkg/cmd/wait: IsDeleted).
    watch = Reflector(
        client, "/api/v1/namespaces", clock, on_event, field_selector=f"metadata.name={namespace}"
    )
    task = spawn(f"wait-namespace-{namespace}", watch.run())

    async def until_gone() -> None:
        await watch.synced.wait()
        if not watch.cache:
            return
        await gone.wait()

    waiting = spawn(f"until-gone-{namespace}", until_gone())
    try:
        finished, _ = await wait_for(clock, waiting, timeout)
    finally:
        await cancel_and_wait(waiting)
        await cancel_and_wait(task)
    if finished:
        return done
    return _still_terminating(done, seen.get("last") or {}, timeout, cli)


def _still_terminating(done: dict[str, Any], obj: JSON, timeout: float, cli: str) -> dict[str, Any]:
    namespace = done["namespace"]
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    finalizers = meta.get("finalizers") or []
    why = f"still {status.get('phase', 'there')} {timeout:.0f} s after its DELETE"
    # The namespace controller's conditions (NamespaceDeletionContentFailure, ...ContentRemaining,
    # ...FinalizersRemaining, ...DiscoveryFailure) say what holds it.
    conditions = status.get("conditions") or []
    held = [c.get("message", c.get("type", "")) for c in conditions if c.get("status") == "True"]
    if finalizers:
        why += f"; metadata.finalizers {json.dumps(finalizers)} were not removed by whoever owns them"
        patch = shlex.quote(json.dumps({"metadata": {"finalizers": None}}))
        command = f"{cli} patch namespace {namespace} --type=merge -p {patch}"
    else:
        command = f"{cli} delete namespace {namespace}"
    if held:
        why += "; " + "; ".join(held)
    return _left(done, why, command)


def _left(done: dict[str, Any], why: str, command: str) -> dict[str, Any]:
    done.update(deleted=False, left=why, command=command)
    print(
        f"hitless verify: namespace {done['namespace']} was left in place: {why}\n"
        f"hitless verify: to finish deleting it: {command}",
        file=sys.stderr,
    )
    return done
