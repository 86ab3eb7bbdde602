"""``pods/{name}/log``: a container's log as the kubelet serves it.

The kubelet's log files are CRI format, one per container instance
(``<log root>/<ns>_<pod>_<uid>/<container>/<restartCount>.log``, docs/architecture.md);
reading follows pkg/kubelet/kuberuntime/logs/logs.go (ReadLogs): partial records joined,
``timestamps`` prefixing each line with its RFC 3339 time, ``tailLines``, ``sinceSeconds`` /
``sinceTime``, ``limitBytes``, and ``follow`` reading on while the instance runs. ``previous``
reads the instance before the current one, refused as the kubelet refuses it when there is none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hitless.api.types.pod import Pod
from hitless.apiserver import status
from hitless.runtime.linux.logs import parse_cri_line

FOLLOW_POLL_S = 0.1


@dataclass(frozen=True)
class LogOptions:
    container: str | None = None
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    limit_bytes: int | None = None
    since: datetime | None = None


def pick_container(pod: Pod, container: str | None) -> str:
    names = [c.name for c in pod.spec.containers]
    init = [c.name for c in pod.spec.init_containers or []]
    if container is None:
        if len(names) == 1:
            return names[0]
        raise status.bad_request(
            f"a container name must be specified for pod {pod.name}, choose one of: [{' '.join(names)}]"
            + (f" or one of the init containers: [{' '.join(init)}]" if init else "")
        )
    if container not in names and container not in init:
        raise status.bad_request(f"container {container} is not valid for pod {pod.name}")
    return container


def log_path(root: Path, pod: Pod, container: str, previous: bool) -> Path:
    statuses = [*(pod.status.container_statuses or []), *(pod.status.init_container_statuses or [])]
    st = next((s for s in statuses if s.name == container), None)
    restarts = st.restart_count if st is not None else 0
    base = root / f"{pod.namespace}_{pod.name}_{pod.metadata.uid}" / container
    if previous:
        if st is None or restarts == 0 or not (base / f"{restarts - 1}.log").exists():
            raise status.bad_request(
                f'previous terminated container "{container}" in pod "{pod.name}" not found'
            )
        return base / f"{restarts - 1}.log"
    if st is None or (st.state.waiting is not None and not (base / f"{restarts}.log").exists()):
        reason = st.state.waiting.reason if st is not None and st.state.waiting else "ContainerCreating"
        raise status.bad_request(
            f'container "{container}" in pod "{pod.name}" is waiting to start: '
            f"{reason or 'ContainerCreating'}"
        )
    return base / f"{restarts}.log"


class _Lines:
    """CRI records to log lines, a partial record held until its line is complete."""

    def __init__(self, options: LogOptions) -> None:
        self._options = options
        self._pending: dict[str, tuple[str, bytes]] = {}

    def feed(self, raw: bytes) -> bytes | None:
        try:
            record = parse_cri_line(raw)
        except ValueError:
            return None
        since = self._options.since
        if since is not None:
            try:
                when = datetime.fromisoformat(record.timestamp[:26] + "+00:00")
            except ValueError:
                when = None
            if when is not None and when < since:
                return None
        first_ts, held = self._pending.pop(record.stream, (record.timestamp, b""))
        content = held + record.content
        if record.partial:
            self._pending[record.stream] = (first_ts, content)
            return None
        line = content + b"\n"
        if self._options.timestamps:
            line = first_ts.encode() + b" " + line
        return line


async def stream(
    path: Path,
    options: LogOptions,
    write: Callable[[bytes], Awaitable[None]],
    running: Callable[[], bool],
) -> None:
    """Write the log's lines; with ``follow``, go on while ``running()`` says the instance runs."""
    lines = _Lines(options)
    limit = options.limit_bytes
    sent = 0
    data = await asyncio.to_thread(_read_from, path, 0)
    cut = data.rfind(b"\n") + 1
    out = [line for raw in data[:cut].splitlines() if (line := lines.feed(raw)) is not None]
    offset = cut
    if options.tail_lines is not None:
        out = out[-options.tail_lines :] if options.tail_lines > 0 else []
    chunk = b"".join(out)
    if limit is not None:
        chunk = chunk[:limit]
    if chunk:
        await write(chunk)
        sent += len(chunk)
    if not options.follow:
        return
    while limit is None or sent < limit:
        still_running = running()
        data = await asyncio.to_thread(_read_from, path, offset)
        cut = data.rfind(b"\n") + 1
        if cut:
            offset += cut
            chunk = b"".join(line for raw in data[:cut].splitlines() if (line := lines.feed(raw)) is not None)
            if limit is not None:
                chunk = chunk[: limit - sent]
            if chunk:
                await write(chunk)
                sent += len(chunk)
        if not still_running:
            return
        # The kubelet waits on fsnotify; a short poll of one file is as prompt for a person.
        await asyncio.sleep(FOLLOW_POLL_S)


def _read_from(path: Path, offset: int) -> bytes:
    # Off the event loop: a long log read at once would hold up probes.
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""
