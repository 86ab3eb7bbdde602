"""Objects of the kinds hitless stores but does not act on: ``metadata`` typed, the rest verbatim.

A ServiceAccount, a Role or a custom resource goes through the same strict decoding and
metadata validation as a Pod, then lives in the store as a :class:`GenericObject`: every field
kept as written (``extra="allow"``), so that it serializes to the JSON the API server returns.
"""

from __future__ import annotations

from pydantic import PrivateAttr

from hitless.api.types.meta import K8sObject


class GenericObject(K8sObject):
    # The scope of a custom resource comes from its CustomResourceDefinition, not from the
    # built-in registry: the loader sets it; None defers to the registry.
    _namespaced: bool | None = PrivateAttr(default=None)

    def namespaced(self) -> bool:
        if self._namespaced is not None:
            return self._namespaced
        return super().namespaced()

    def set_namespaced(self, namespaced: bool) -> None:
        self._namespaced = namespaced
