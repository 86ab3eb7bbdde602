"""What ``hitless up`` says about the objects it stores without acting on them: a line per kind."""

from __future__ import annotations

from hitless.api import kinds
from hitless.api.loader import LoadResult


def stored_lines(result: LoadResult) -> list[str]:
    """``ServiceAccount (v1): 2 stored, not emulated: release-web, release-db``, one per kind and
    version, in the order the kinds first appear."""
    by_kind: dict[tuple[str, str], list[str]] = {}
    for loaded in result.applied():
        obj = loaded.obj
        if result.handling(obj) != "stored":
            continue
        by_kind.setdefault((obj.kind, obj.api_version), []).append(_name(obj.namespace, obj.name))
    lines = []
    for (kind, api_version), names in by_kind.items():
        shown = ", ".join(names[:5]) + (f", and {len(names) - 5} more" if len(names) > 5 else "")
        custom = "" if kinds.lookup(api_version, kind) is not None else "custom resource, "
        lines.append(f"{kind} ({custom}{api_version}): {len(names)} stored, not emulated: {shown}")
    return lines


def _name(namespace: str, name: str) -> str:
    return f"{namespace}/{name}" if namespace and namespace != "default" else name
