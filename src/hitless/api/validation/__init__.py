"""The API server's validation of what strict decoding accepted, in its own words.

One module per kind (``pod``, ``apps``, ``service``) plus the shared checks (``names``, ``meta``,
``container``). Input is the defaulted JSON dict; output the ``field.ErrorList`` upstream would
produce, in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hitless.api.errors import FieldError
from hitless.api.validation.apps import validate_deployment
from hitless.api.validation.batch import validate_cronjob, validate_job
from hitless.api.validation.config import validate_config_map, validate_secret
from hitless.api.validation.generic import validate_custom_resource_definition, validate_generic
from hitless.api.validation.pod import validate_pod
from hitless.api.validation.policy import validate_pod_disruption_budget
from hitless.api.validation.service import validate_service
from hitless.api.validation.workloads import validate_daemonset, validate_statefulset

_VALIDATORS: dict[str, Callable[[Mapping[str, Any]], list[FieldError]]] = {
    "Pod": validate_pod,
    "Deployment": validate_deployment,
    "Service": validate_service,
    "StatefulSet": validate_statefulset,
    "DaemonSet": validate_daemonset,
    "Job": validate_job,
    "CronJob": validate_cronjob,
    "ConfigMap": validate_config_map,
    "Secret": validate_secret,
    "PodDisruptionBudget": validate_pod_disruption_budget,
    "CustomResourceDefinition": validate_custom_resource_definition,
}


def validate(obj: Mapping[str, Any]) -> list[FieldError]:
    """Field errors of a defaulted object (by its ``kind``); kinds without a validator of their
    own get their metadata validated (``generic``)."""
    return _VALIDATORS.get(obj["kind"], validate_generic)(obj)


__all__ = ["validate", "validate_deployment", "validate_pod", "validate_service"]
