"""Namespaces, as ``kubectl apply -f`` meets them: an object is created in input order, and the
API server refuses one whose namespace does not exist (yet) with ``namespaces "x" not found``
(the NamespaceLifecycle admission plugin). A Namespace object earlier in the input creates it;
``default``, ``kube-system``, ``kube-public`` and ``kube-node-lease`` exist from the start.

Helm and kustomize put Namespaces first in what they render; a hand-written directory whose
Namespace comes after its objects fails the same way under kubectl (the second apply succeeds).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hitless.api import gofmt
from hitless.api.errors import LoadError
from hitless.api.kinds import INITIAL_NAMESPACES

if TYPE_CHECKING:
    from hitless.api.loader import LoadResult


def check(result: LoadResult, existing: Iterable[str] = ()) -> None:
    created = {*INITIAL_NAMESPACES, *existing}
    later = {o.obj.name for o in result.objects if o.obj.kind == "Namespace"}
    kept = []
    for loaded in result.objects:
        obj = loaded.obj
        if obj.kind == "Namespace":
            created.add(obj.name)
        elif obj.namespaced() and obj.namespace not in created:
            where, namespace = gofmt.quote(loaded.file), gofmt.quote(obj.namespace)
            message = f"error when creating {where}: namespaces {namespace} not found"
            if obj.namespace in later:
                message += " (the Namespace comes later in the input: kubectl apply creates objects in order)"
            line = loaded.line_of("metadata.namespace")
            result.errors.append(
                LoadError(loaded.file, line, message, "object", obj.kind, obj.name, object_line=loaded.line)
            )
            continue
        kept.append(loaded)
    result.objects = kept
