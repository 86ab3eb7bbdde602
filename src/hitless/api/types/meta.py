"""metav1 types: ObjectMeta, OwnerReference, and the object envelope."""

from __future__ import annotations

from pydantic import Field

from hitless.api.types.base import K8sModel, Time


class OwnerReference(K8sModel):
    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(K8sModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Time | None = None
    deletion_timestamp: Time | None = None
    deletion_grace_period_seconds: int | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None


class LabelSelectorRequirement(K8sModel):
    key: str
    operator: str
    values: list[str] | None = None


class LabelSelector(K8sModel):
    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None

    def matches(self, labels: dict[str, str] | None) -> bool:
        """``metav1.LabelSelectorAsSelector(s).Matches(labels)`` for a valid selector."""
        labels = labels or {}
        if any(labels.get(k) != v for k, v in (self.match_labels or {}).items()):
            return False
        for req in self.match_expressions or []:
            present, values = req.key in labels, req.values or []
            if req.operator == "In" and not (present and labels[req.key] in values):
                return False
            if req.operator == "NotIn" and present and labels[req.key] in values:
                return False
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
        return True


class ObjectReference(K8sModel):
    """core/v1 ObjectReference, as in an Event's ``involvedObject``."""

    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    api_version: str | None = None
    resource_version: str | None = None
    field_path: str | None = None


class K8sObject(K8sModel):
    """Any top-level object: ``apiVersion``, ``kind``, ``metadata``."""

    api_version: str
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    @property
    def name(self) -> str:
        return self.metadata.name or ""

    def namespaced(self) -> bool:
        """Whether objects of this kind live in a namespace (the registry's scope)."""
        return _namespaced(self.kind)

    @property
    def namespace(self) -> str:
        """The namespace; ``""`` for a cluster-scoped kind, as the API server keys them."""
        return self.metadata.namespace or ("default" if self.namespaced() else "")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)

    def describe(self) -> str:
        """``Pod "web"``: how the API server names an object in messages."""
        return f'{self.kind} "{self.name}"'


def _namespaced(kind: str) -> bool:
    # Imported here: the registry imports every type, this module among them.
    from hitless.api.kinds import is_namespaced

    return is_namespaced(kind)
