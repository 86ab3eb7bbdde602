"""``validatePodDNSConfig`` (pkg/apis/core/validation/validation.go), with the limits of
ExpandedDNSConfig (GA in 1.28) that the kubelet's resolv.conf also applies (kubelet/dns.py)."""

from __future__ import annotations

import ipaddress

from hitless.api import errors as fe
from hitless.api.errors import FieldError
from hitless.api.fieldpath import Path
from hitless.api.gofmt import GoLiteral, quote
from hitless.api.validation import names
from hitless.api.validation.meta import Obj, items, o, objs, s

MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048


def _strings(values: list[str]) -> GoLiteral:
    return GoLiteral("[]string{" + ", ".join(quote(v) for v in values) + "}")


def validate_pod_dns_config(spec: Obj, path: Path) -> list[FieldError]:
    config = o(spec, "dnsConfig")
    if s(spec, "dnsPolicy") == "None":
        if config is None:
            return [fe.required(path, "must provide `dnsConfig` when `dnsPolicy` is None")]
        if not items(config, "nameservers"):
            return [
                fe.required(
                    path.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )
            ]
    if config is None:
        return []
    errs: list[FieldError] = []
    nameservers = [v if isinstance(v, str) else "" for v in items(config, "nameservers")]
    if len(nameservers) > MAX_DNS_NAMESERVERS:
        errs.append(
            fe.invalid(
                path.child("nameservers"),
                _strings(nameservers),
                f"must not have more than {MAX_DNS_NAMESERVERS} nameservers",
            )
        )
    for i, server in enumerate(nameservers):
        try:
            ipaddress.ip_address(server)
        except ValueError:
            errs.append(
                fe.invalid(
                    path.child("nameservers").index(i),
                    server,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                )
            )
    searches = [v if isinstance(v, str) else "" for v in items(config, "searches")]
    if len(searches) > MAX_DNS_SEARCH_PATHS:
        errs.append(
            fe.invalid(
                path.child("searches"),
                _strings(searches),
                f"must not have more than {MAX_DNS_SEARCH_PATHS} search paths",
            )
        )
    if len(" ".join(searches)) > MAX_DNS_SEARCH_LIST_CHARS:
        errs.append(
            fe.invalid(
                path.child("searches"),
                _strings(searches),
                f"must not have more than {MAX_DNS_SEARCH_LIST_CHARS} characters (including spaces) "
                "in the search list",
            )
        )
    for i, search in enumerate(searches):
        search = search.removesuffix(".")  # a trailing dot is fine
        errs += [
            fe.invalid(path.child("searches").index(i), search, m) for m in names.is_dns1123_subdomain(search)
        ]
    for i, option in enumerate(objs(config, "options")):
        if not s(option, "name"):
            errs.append(fe.required(path.child("options").index(i), "must not be empty"))
    return errs
