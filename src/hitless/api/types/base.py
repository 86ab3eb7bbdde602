"""The base of every API type: camelCase JSON, unknown-but-valid fields kept verbatim.

Objects arrive here only after schema validation (``hitless.api.schema``), so these models do not
re-validate Kubernetes' rules; their job is typed access for the components and serialization to
exactly the JSON the API server would return. ``extra="allow"`` keeps every field hitless does not
model (``resources``, ``securityContext``, ...) so that a Pod read back is the Pod that was applied.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_time(value: datetime) -> str:
    """metav1.Time: RFC 3339, UTC, whole seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_micro_time(value: datetime) -> str:
    """metav1.MicroTime: RFC 3339, UTC, microseconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Time = Annotated[datetime, PlainSerializer(format_time, return_type=str, when_used="json")]
MicroTime = Annotated[datetime, PlainSerializer(format_micro_time, return_type=str, when_used="json")]

# IntOrString, as in k8s.io/apimachinery/pkg/util/intstr.
IntOrString = int | str


class K8sModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        # Objects are snapshots: components copy, change and write back through the store.
        frozen=False,
        ser_json_timedelta="float",
    )

    def to_json(self) -> dict[str, Any]:
        """The object as the Kubernetes API returns it (``omitempty`` fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls.model_validate(data)

    def copy_deep(self) -> Self:
        return self.model_copy(deep=True)
