"""A compiled yes/no answer to "does this object decode strictly?", for the fast path of ``schema``.

jsonschema's ``iter_errors`` interprets the schema afresh for every value (a validator object per
descent, a registry lookup per ``$ref``): about a millisecond per Deployment, most of the time
``hitless check`` spent. Most manifests are valid, so ``schema.decode`` first asks this check,
whose closures are compiled once per schema node (lazily, on the first object that reaches it),
and runs ``iter_errors`` only for an object that fails it, which then gets exactly the errors it
always got.

That is safe only if this check never passes an object ``iter_errors`` would fault. It therefore
implements each keyword the Kubernetes schemas use exactly as the Draft 2020-12 validator does
(``type``, ``properties``, ``additionalProperties``, ``items``, ``required``, ``enum``, ``oneOf``,
``$ref``, and ``schema``'s own ``format``), and fails closed: a keyword it does not know, a ``$ref``
it cannot resolve, or a Python value that is not one of JSON's types, makes the object fail, and
the slow path decides. Failing an object that is in fact clean costs time, never correctness.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_DEFS_PREFIX = "#/$defs/"
# Keywords that assert nothing (annotations, and Kubernetes' extensions, which jsonschema ignores).
_ANNOTATIONS = {"description", "$schema", "$id", "$defs", "title", "default", "example", "deprecated"}
_HANDLED = {
    "type",
    "properties",
    "additionalProperties",
    "items",
    "required",
    "enum",
    "oneOf",
    "format",
    "$ref",
}
_JSON_TYPES = (dict, list, str, int, float, bool, type(None))


def _never(value: Any) -> bool:
    return False


def _always(value: Any) -> bool:
    return True


def _type_check(names: list[str]) -> Check:
    """jsonschema's draft 2020-12 type checker, for the Python values a JSON or YAML decode makes."""
    exact: set[type] = set()
    integer = number = False
    for name in names:
        if name == "object":
            exact.add(dict)
        elif name == "array":
            exact.add(list)
        elif name == "string":
            exact.add(str)
        elif name == "boolean":
            exact.add(bool)
        elif name == "null":
            exact.add(type(None))
        elif name == "integer":
            integer = True
        elif name == "number":
            number = True
        else:
            return _never
    if number:
        exact |= {int, float}
    elif integer:
        exact.add(int)
    frozen = frozenset(exact)
    if integer and not number:
        # 2020-12 counts 1.0 as an integer.
        return lambda v: type(v) in frozen or (type(v) is float and v.is_integer())
    return lambda v: type(v) in frozen


class Compiler:
    """Closures for the schemas of one definitions document, each ``$defs`` entry compiled once."""

    def __init__(self, defs: Mapping[str, Any], format_ok: Callable[[str, Any], bool]) -> None:
        self._defs = defs
        self._format_ok = format_ok
        self._refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if not isinstance(schema, dict):
            return _never
        keywords = {k for k in schema if k not in _ANNOTATIONS and not k.startswith("x-kubernetes-")}
        if not keywords <= _HANDLED:
            return _never
        checks: list[Check] = []
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"]))
        if "type" in schema:
            names = schema["type"]
            checks.append(_type_check([names] if isinstance(names, str) else list(names)))
        if "enum" in schema:
            checks.append(_enum(schema["enum"]))
        if "format" in schema:
            fmt, format_ok = schema["format"], self._format_ok
            checks.append(lambda v: format_ok(fmt, v))
        if "oneOf" in schema:
            checks.append(self._one_of(schema["oneOf"]))
        if keywords & {"properties", "additionalProperties", "required"}:
            checks.append(self._object(schema))
        if "items" in schema:
            checks.append(self._array(schema["items"]))
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda v: first(v) and second(v)
        parts = tuple(checks)
        return lambda v: all(c(v) for c in parts)

    def _ref(self, ref: Any) -> Check:
        if not isinstance(ref, str) or _DEFS_PREFIX not in ref:
            return _never
        base, name = ref.split(_DEFS_PREFIX, 1)
        if (base and not base.endswith("_definitions.json")) or name not in self._defs:
            return _never
        compiled = self._refs.get(name)
        if compiled is not None:
            return compiled
        # Compiled on first use: a Pod reaches hundreds of definitions (every volume source) that
        # most manifests never write; the indirection also lets a definition refer to itself.
        slot: list[Check] = []

        def lazy(value: Any) -> bool:
            if not slot:
                slot.append(self.compile(self._defs[name]))
            return slot[0](value)

        self._refs[name] = lazy
        return lazy

    def _one_of(self, branches: Any) -> Check:
        # Exactly one must pass: a branch judged stricter than jsonschema would could turn two
        # passes into one, so only branches this module checks exactly (a bare type) are taken.
        if not isinstance(branches, list):
            return _never
        checks = []
        for branch in branches:
            if not isinstance(branch, dict) or {k for k in branch if k not in _ANNOTATIONS} != {"type"}:
                return _never
            checks.append(self.compile(branch))

        def one_of(v: Any) -> bool:
            return type(v) in _JSON_TYPES and sum(1 for c in checks if c(v)) == 1

        return one_of

    def _object(self, schema: dict[str, Any]) -> Check:
        props = {k: self.compile(s) for k, s in (schema.get("properties") or {}).items()}
        extra_schema = schema.get("additionalProperties", True)
        extra = None if extra_schema is False else self.compile(extra_schema)
        required = tuple(schema.get("required") or ())

        def check_object(v: Any) -> bool:
            if type(v) is not dict:
                return type(v) in _JSON_TYPES
            for key, item in v.items():
                check = props.get(key)
                if check is None:
                    if extra is None or not extra(item):
                        return False
                elif not check(item):
                    return False
            return all(k in v for k in required)

        return check_object

    def _array(self, items: Any) -> Check:
        if isinstance(items, list):  # draft 4's tuple form is prefixItems in 2020-12
            return _never
        check = self.compile(items)

        def check_array(v: Any) -> bool:
            if type(v) is not list:
                return type(v) in _JSON_TYPES
            return all(check(item) for item in v)

        return check_array


def _enum(values: Any) -> Check:
    if not isinstance(values, list):
        return _never
    if all(type(e) is str for e in values):
        strings = frozenset(values)
        return lambda v: type(v) is str and v in strings
    # jsonschema's equal() treats 1 and 1.0 as equal and True and 1 as different; requiring the
    # same Python type is stricter, which only sends such values to the slow path.
    return lambda v: any(type(v) is type(e) and v == e for e in values)
