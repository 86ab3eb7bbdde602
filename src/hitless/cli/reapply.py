"""Re-applying the manifests of a running ``hitless up`` when one of them is saved.

The files are polled through the clock (their mtime and size; no dependency, and it works the
same on every filesystem): a change is applied once the files have stayed the same for one more
poll, so an editor's half-written save is not read. The whole set is loaded again as at start;
if anything is invalid, every error is printed with its ``file:line`` and nothing changes — the
running workload stays as it was. Otherwise it is applied as ``kubectl apply --prune`` would
(store/apply.py): a changed pod template rolls out, a changed ``replicas`` scales, a removed
object is deleted gracefully.
"""

from __future__ import annotations

import stat
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from hitless.api import load
from hitless.api.types.meta import K8sObject
from hitless.clock import Clock
from hitless.engine import Engine
from hitless.store.apply import Key

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
POLL_INTERVAL = 0.5

Snapshot = dict[str, tuple[int, int]]


def snapshot(paths: Sequence[str]) -> Snapshot:
    """(mtime_ns, size) of every manifest file named or inside a named directory."""
    out: Snapshot = {}
    for name in paths:
        if name == "-":
            continue  # stdin was read once
        target = Path(name)
        try:
            files = (
                sorted(p for p in target.iterdir() if p.suffix in MANIFEST_SUFFIXES)
                if target.is_dir()
                else [target]
            )
        except (OSError, ValueError):
            files = [target]  # a directory removed meanwhile: the next load says so
        for f in files:
            try:
                st = f.stat()
            except (OSError, ValueError):
                out[str(f)] = (-1, -1)
            else:
                if not stat.S_ISREG(st.st_mode):
                    continue  # a pipe or a device (<(cmd), /dev/stdin) was read once, as stdin is
                out[str(f)] = (st.st_mtime_ns, st.st_size)
    return out


def file_keys(paths: Sequence[str], runnable: Callable[[K8sObject], bool]) -> set[Key]:
    """The objects the files (not stdin) hold now: what a later save may prune."""
    result = load([p for p in paths if p != "-"])
    return {o.obj.key for o in result.applied() if runnable(o.obj)}


def reapply_once(
    paths: Sequence[str],
    engine: Engine,
    runnable: Callable[[K8sObject], bool],
    out: TextIO,
    prune_scope: set[Key] | None = None,
) -> bool:
    """Load and apply the manifests as they are now; False (and nothing changed) on any error.

    ``prune_scope``: with ``-`` among the paths, the objects the files held before this save.
    Only those may be pruned, or the objects read from stdin (read once, at start) would be."""
    files = [p for p in paths if p != "-"]
    # Namespaces the store holds (created from stdin, read once) exist for the files' objects.
    result = load(files, namespaces=[ns.name for ns in engine.store.objects("Namespace")])
    for warning in result.warnings:
        print(warning.format(), file=out)
    if result.errors:
        for error in result.errors:
            print(error.format(), file=out)
        print(
            f"hitless: {len(result.errors)} error(s) in the edited manifests; nothing was changed", file=out
        )
        out.flush()
        return False
    objects = [o.obj for o in result.applied() if runnable(o.obj)]
    if prune_scope is not None:
        applied = engine.applier.apply(objects, prune_scope=prune_scope)
        if not applied.errors:
            prune_scope.clear()
            prune_scope.update(o.key for o in objects)
    else:
        applied = engine.reapply(objects)
    for line in applied.lines:
        print(f"hitless: {line}", file=out)
    for message in applied.errors:
        print(f"hitless: error: {message}", file=out)
    if applied.errors:
        print(f"hitless: {len(applied.errors)} object(s) refused; nothing was changed", file=out)
    out.flush()
    return not applied.errors


async def watch_and_reapply(
    paths: Sequence[str],
    engine: Engine,
    clock: Clock,
    runnable: Callable[[K8sObject], bool],
    out: TextIO = sys.stderr,
    interval: float = POLL_INTERVAL,
) -> None:
    seen = snapshot(paths)
    scope = file_keys(paths, runnable) if "-" in paths else None
    while True:
        await clock.sleep(interval)
        current = snapshot(paths)
        if current == seen:
            continue
        # Wait until the files hold still for one poll: an editor may write in several steps.
        while True:
            await clock.sleep(interval)
            settled = snapshot(paths)
            if settled == current:
                break
            current = settled
        seen = current
        reapply_once(paths, engine, runnable, out, scope)
