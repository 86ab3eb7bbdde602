"""ValidateConfigMap and ValidateSecret (pkg/apis/core/validation/validation.go), and the update
rules of an ``immutable`` one (ValidateConfigMapUpdate, ValidateSecretUpdate).

Input is the defaulted JSON: ``data`` of a Secret and ``binaryData`` of a ConfigMap hold base64
text that decoding already checked, and a Secret's ``stringData`` is already merged into ``data``
(as the conversion to the internal version does before validation). Go ranges over maps in random
order; keys are taken sorted here, so the order of several errors is stable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hitless.api import errors as fe
from hitless.api import gobase64
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.validation import names
from hitless.api.validation.meta import o, s, validate_object_meta

MAX_SECRET_SIZE = 1 * 1024 * 1024  # core.MaxSecretSize, which ConfigMaps share
SERVICE_ACCOUNT_NAME_KEY = "kubernetes.io/service-account.name"
SECRET_TYPE_KEYS = {
    # type: the key whose value must be a JSON object
    "kubernetes.io/dockercfg": ".dockercfg",
    "kubernetes.io/dockerconfigjson": ".dockerconfigjson",
}
_REDACTED = "<secret contents redacted>"


def _bytes_of(value: Any) -> bytes:
    return gobase64.decode(value) if isinstance(value, str) else b""


def validate_config_map(cm: Mapping[str, Any]) -> list[FieldError]:
    errs = validate_object_meta(o(cm, "metadata"), True, names.name_is_dns_subdomain, Path.new("metadata"))
    data = o(cm, "data") or {}
    binary = o(cm, "binaryData") or {}
    total = 0
    for key in sorted(data):
        path = Path.new("data").key(key)
        errs += [fe.invalid(path, key, msg) for msg in names.is_config_map_key(key)]
        if key in binary:
            errs.append(fe.invalid(path, key, "duplicate of key present in binaryData"))
        total += len((data[key] or "").encode()) if isinstance(data[key], str) else 0
    for key in sorted(binary):
        path = Path.new("binaryData").key(key)
        errs += [fe.invalid(path, key, msg) for msg in names.is_config_map_key(key)]
        total += len(_bytes_of(binary[key]))
    if total > MAX_SECRET_SIZE:
        # field.NewPath(""): the error is about the whole object.
        errs.append(fe.too_long(Path.new(""), MAX_SECRET_SIZE))
    return errs


def validate_secret(secret: Mapping[str, Any]) -> list[FieldError]:
    meta = o(secret, "metadata")
    errs = validate_object_meta(meta, True, names.name_is_dns_subdomain, Path.new("metadata"))
    data_path = Path.new("data")
    data = {k: _bytes_of(v) for k, v in (o(secret, "data") or {}).items()}
    total = 0
    for key in sorted(data):
        errs += [fe.invalid(data_path.key(key), key, msg) for msg in names.is_config_map_key(key)]
        total += len(data[key])
    if total > MAX_SECRET_SIZE:
        errs.append(fe.too_long(data_path, MAX_SECRET_SIZE))
    type_ = s(secret, "type")
    if type_ == "kubernetes.io/service-account-token":
        # Only the annotation is required: the token controller adds data["token"] later.
        annotations = o(meta, "annotations") or {}
        if not annotations.get(SERVICE_ACCOUNT_NAME_KEY):
            errs.append(fe.required(Path.new("metadata", "annotations").key(SERVICE_ACCOUNT_NAME_KEY)))
    elif type_ in SECRET_TYPE_KEYS:
        key = SECRET_TYPE_KEYS[type_]
        if key not in data:
            errs.append(fe.required(data_path.key(key)))
        else:
            problem = _json_object_error(data[key])
            if problem is not None:
                errs.append(fe.invalid(data_path.key(key), _REDACTED, problem))
    elif type_ == "kubernetes.io/basic-auth":
        if "username" not in data and "password" not in data:
            errs.append(fe.required(data_path.key("username")))
            errs.append(fe.required(data_path.key("password")))
    elif type_ == "kubernetes.io/ssh-auth":
        if not data.get("ssh-privatekey"):
            errs.append(fe.required(data_path.key("ssh-privatekey")))
    elif type_ == "kubernetes.io/tls":
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                errs.append(fe.required(data_path.key(key)))
    return errs


def _json_object_error(raw: bytes) -> str | None:
    """``json.Unmarshal(raw, &map[string]interface{}{})``'s error, in encoding/json's words for
    the common cases (not JSON at all; JSON that is not an object)."""
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        text = raw.decode(errors="replace").lstrip()
        first = text[:1]
        if not first:
            return "unexpected end of JSON input"
        return f"invalid character {_go_char(first)} looking for beginning of value"
    if not isinstance(value, dict):
        kind = {str: "string", bool: "bool", list: "array", type(None): "null"}.get(type(value), "number")
        if kind == "null":
            return None  # a JSON null leaves the map as it is
        return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    return None


def _go_char(c: str) -> str:
    return "'\\''" if c == "'" else f"'{c}'"


def immutable_update_errors(kind: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldError]:
    """ValidateConfigMapUpdate / ValidateSecretUpdate's rules beyond the object's own validation."""
    errs: list[FieldError] = []
    if kind == "Secret" and s(new, "type") != s(old, "type"):
        errs.append(fe.invalid(Path.new("type"), s(new, "type"), "field is immutable"))
    if old.get("immutable") is True:
        if new.get("immutable") is not True:
            errs.append(fe.forbidden(Path.new("immutable"), "field is immutable when `immutable` is set"))
        fields = ("data", "binaryData") if kind == "ConfigMap" else ("data",)
        for key in fields:
            if (old.get(key) or None) != (new.get(key) or None):
                errs.append(fe.forbidden(Path.new(key), "field is immutable when `immutable` is set"))
    return errs
