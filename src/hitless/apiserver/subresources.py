"""Subresources: ``status``, ``scale`` (autoscaling/v1 Scale of Deployments, ReplicaSets, StatefulSets),
``log``, ``eviction``, ``binding`` and ``serviceaccounts/token``, as kube-apiserver's registries
serve them (pkg/registry/apps/deployment/storage ScaleREST, pkg/registry/core/pod/storage LogREST,
EvictionREST, BindingREST, pkg/registry/core/serviceaccount/storage TokenREST); ``proxy`` is
apiserver/proxy.py.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from hitless.api.types.apps import Deployment, ReplicaSet
from hitless.api.types.meta import K8sObject
from hitless.api.types.pod import Pod
from hitless.api.types.statefulset import StatefulSet
from hitless.apiserver import cells, patch, proxy, status
from hitless.apiserver.eviction import evict
from hitless.apiserver.logs import LogOptions, log_path, pick_container
from hitless.apiserver.logs import stream as stream_log
from hitless.apiserver.rest_util import flag, integer, json_response
from hitless.apiserver.serviceaccount import API_AUDIENCES
from hitless.store.store import AlreadyExists, NotFound

if TYPE_CHECKING:
    from hitless.apiserver.rest import Rest, Target

Json = dict[str, Any]


async def serve(rest: Rest, request: web.Request, target: Target) -> web.StreamResponse:
    r, sub, method = target.resource, target.sub, request.method
    if sub not in r.subresources:
        raise status.path_not_found()
    if sub == "status":
        if method == "GET":
            return rest._get(request, target)
        if method == "PUT":
            return await rest._update(request, target, "status")
        if method == "PATCH":
            return await rest._patch(request, target, "status")
    elif sub == "scale" and r.kind in ("Deployment", "ReplicaSet", "StatefulSet"):
        return await _scale(rest, request, target)
    elif sub == "log" and method == "GET":
        return await _log(rest, request, target)
    elif sub == "proxy":
        return await proxy.serve(rest, request, target)
    elif sub == "eviction" and method == "POST":
        return await _evict(rest, request, target)
    elif sub == "token" and method == "POST":
        return await _token(rest, request, target)
    elif sub == "binding" and method == "POST":
        body = await rest._body(request, target)
        node = ((body or {}).get("target") or {}).get("name", "")
        try:
            rest.store.bind(target.namespace or "default", target.name or "", node)
        except NotFound as exc:
            raise status.not_found(r.group, r.plural, target.name or "") from exc
        except AlreadyExists as exc:
            raise status.conflict(r.group, r.plural, target.name or "", str(exc)) from exc
        return json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
        )
    raise status.method_not_allowed()


def _scale_json(rest: Rest, obj: K8sObject) -> Json:
    assert isinstance(obj, Deployment | ReplicaSet | StatefulSet)
    sel = obj.spec.selector
    selector = ",".join(f"{k}={v}" for k, v in sorted((sel.match_labels or {}).items())) if sel else ""
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": obj.name,
            "namespace": obj.metadata.namespace,
            "uid": obj.metadata.uid,
            "resourceVersion": obj.metadata.resource_version,
            "creationTimestamp": rest.encoder.data(obj)["metadata"].get("creationTimestamp"),
        },
        "spec": {"replicas": obj.spec.replicas if obj.spec.replicas is not None else 1},
        "status": {"replicas": obj.status.replicas or 0, "selector": selector},
    }


async def _scale(rest: Rest, request: web.Request, target: Target) -> web.Response:
    r = target.resource
    live = rest._lookup(target)
    scale = _scale_json(rest, live)
    if request.method == "GET":
        return json_response(scale)
    if request.method not in ("PUT", "PATCH"):
        raise status.method_not_allowed()
    body = await rest._body(request, target)
    if request.method == "PUT":
        new_scale = body
    else:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        if ctype == "application/json-patch+json":
            new_scale = patch.json_patch(scale, body)
        elif ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            new_scale = patch.merge_patch(scale, body)
        else:
            raise status.unsupported_media_type(
                ctype,
                (
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/strategic-merge-patch+json",
                ),
            )
    wanted_rv = (
        ((new_scale.get("metadata") or {}).get("resourceVersion")) if isinstance(new_scale, dict) else None
    )
    if wanted_rv and wanted_rv != live.metadata.resource_version:
        raise status.conflict(r.group, r.plural, live.name, status.MODIFIED)
    replicas = ((new_scale or {}).get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        raise status.ApiError(
            422,
            "Invalid",
            f'Scale.autoscaling "{live.name}" is invalid: spec.replicas: Invalid value: '
            f"{replicas}: must be greater than or equal to 0",
            {
                "name": live.name,
                "group": "autoscaling",
                "kind": "Scale",
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {replicas}: must be greater than or equal to 0",
                        "field": "spec.replicas",
                    }
                ],
            },
        )
    if request.query.get("dryRun") != "All":
        assert isinstance(live, Deployment | ReplicaSet | StatefulSet)
        new = live.copy_deep()
        new.spec.replicas = replicas
        manager = request.query.get("fieldManager")
        if manager:
            # The scale's writer owns the replicas it set (`kubectl scale`: kubectl-scale).
            data = new.to_json()
            rest.ssa.record_update(rest.encoder.data(live), data, manager, r)
            new = type(live).model_validate(data)
        live = rest.store.update(new)
    return json_response(_scale_json(rest, live))


async def _log(rest: Rest, request: web.Request, target: Target) -> web.StreamResponse:
    obj = rest._lookup(target)
    if not isinstance(obj, Pod):
        raise status.bad_request("logs are served for pods only")
    since = None
    if request.query.get("sinceSeconds"):
        seconds = integer(request, "sinceSeconds") or 0
        since = rest.clock.wall() - timedelta(seconds=seconds)
    elif request.query.get("sinceTime"):
        since = cells.parse_time(request.query["sinceTime"])
    options = LogOptions(
        container=request.query.get("container"),
        follow=flag(request, "follow"),
        previous=flag(request, "previous"),
        timestamps=flag(request, "timestamps"),
        tail_lines=integer(request, "tailLines"),
        limit_bytes=integer(request, "limitBytes"),
        since=since,
    )
    container = pick_container(obj, options.container)
    path = log_path(rest.log_root, obj, container, options.previous)
    uid = obj.metadata.uid

    def running() -> bool:
        if options.previous or rest.stopping.is_set():
            return False
        pod = rest.store.get("Pod", obj.namespace, obj.name)
        if not isinstance(pod, Pod) or pod.metadata.uid != uid:
            return False
        statuses = [*(pod.status.container_statuses or []), *(pod.status.init_container_statuses or [])]
        st = next((s for s in statuses if s.name == container), None)
        if st is None or log_path(rest.log_root, pod, container, False) != path:
            return False
        return st.state.terminated is None

    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    if options.follow:
        resp.enable_chunked_encoding()
    await resp.prepare(request)
    with contextlib.suppress(ConnectionResetError):  # the client went away
        await stream_log(path, options, resp.write, running)
    return resp


async def _evict(rest: Rest, request: web.Request, target: Target) -> web.Response:
    body = await rest._body(request, target)
    pod = rest._lookup(target)
    if not isinstance(pod, Pod):
        raise status.path_not_found()
    options = (body or {}).get("deleteOptions") or {}
    if "All" in (options.get("dryRun") or []):
        return json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
        )
    evict(rest.store, rest.clock, pod.namespace, pod.name, options.get("gracePeriodSeconds"))
    return json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}, 201
    )


# pkg/apis/authentication/validation: a TokenRequest lives at least 10 minutes, at most 2^32 s.
MIN_TOKEN_SECONDS, MAX_TOKEN_SECONDS = 600, 1 << 32


async def _token(rest: Rest, request: web.Request, target: Target) -> web.Response:
    """TokenREST.Create (token.go): a token of the ServiceAccount (``kubectl create token``),
    bound to a pod when the request names one."""
    if rest.tokens is None:
        raise status.path_not_found()
    body = await rest._body(request, target)
    if not isinstance(body, dict):
        raise status.bad_request("the body of the request must be a TokenRequest")
    namespace, name = target.namespace or "default", target.name or ""
    spec = dict(body.get("spec") or {})
    expiration = int(spec.get("expirationSeconds") or 3600)
    spec["expirationSeconds"] = expiration
    if not MIN_TOKEN_SECONDS <= expiration <= MAX_TOKEN_SECONDS:
        why = "less than 10 minutes" if expiration < MIN_TOKEN_SECONDS else "larger than 2^32 seconds"
        raise status.invalid_message(
            "authentication.k8s.io",
            "TokenRequest",
            "",
            f'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: '
            f"{expiration}: may not specify a duration {why}",
        )
    if rest.store.get("ServiceAccount", namespace, name) is None:
        raise status.not_found("", "serviceaccounts", name)
    pod: K8sObject | None = None
    ref = spec.get("boundObjectRef")
    if isinstance(ref, dict):
        if ref.get("kind") != "Pod":
            raise status.bad_request(
                f"cannot bind token for serviceaccount {name!r} to object of type {ref.get('kind')}"
            )
        pod = rest.store.get("Pod", namespace, str(ref.get("name") or ""))
        if pod is None:
            raise status.not_found("", "pods", str(ref.get("name") or ""))
        if ((pod.to_json().get("spec") or {}).get("serviceAccountName") or "default") != name:
            # token.go: a token is bound only to a pod that runs as its ServiceAccount, so
            # that the pod's identity (the token's extra) is never lent to another one.
            raise status.bad_request(
                f'cannot bind token for serviceaccount "{name}" to pod running with different '
                "serviceaccount name."
            )
        if ref.get("uid") and ref["uid"] != pod.metadata.uid:
            raise status.conflict(
                "authentication.k8s.io",
                "TokenRequest",
                str(ref.get("name")),
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                "The object might have been deleted and then recreated",
            )
        ref["uid"] = pod.metadata.uid
    audiences = list(spec.get("audiences") or [])
    token = rest.tokens.request(namespace, name, audiences, expiration, pod)
    spec["audiences"] = audiences or list(API_AUDIENCES)
    now = rest.clock.wall()
    out = {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": _rfc3339(now)},
        "spec": spec,
        "status": {"token": token, "expirationTimestamp": _rfc3339(now + timedelta(seconds=expiration))},
    }
    return json_response(out, 201)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
