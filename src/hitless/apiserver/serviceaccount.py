"""Bound service-account tokens: issued for the kubelet (TokenRequest), authenticated on requests.

Issuing follows pkg/serviceaccount/claims.go ``Claims`` and pkg/registry/core/serviceaccount/
storage/token.go (the TokenRequest the kubelet's token manager sends for a projected
``serviceAccountToken``): ``sub`` ``system:serviceaccount:NS:NAME``, the API server's audiences
when the request names none, the ServiceAccount, the pod and its node as private claims, and
``warnafter`` for the 3607 s tokens the ServiceAccount admission plugin asks for. Validation is
pkg/serviceaccount/jwt.go (signature, issuer, audiences) and claims.go ``Validate``: the time
claims with go-jose's one minute of leeway, then the ServiceAccount and the bound pod must still
exist with the UIDs the token names. A token of a deleted pod is refused ("service account token
has been invalidated") once the pod is gone from the store, or once its deletionTimestamp is more
than the leeway in the past.

The signature is HS256 with a key of the run (upstream signs with the service-account key pair,
RS256 or ES256): only this API server verifies the tokens, and it serves no JWKS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any

from hitless.api.types.meta import K8sObject
from hitless.clock import Clock
from hitless.store.store import Store

# kube-apiserver's default --service-account-issuer and --api-audiences (kind's, and the
# default of every cluster made by kubeadm).
ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)
# claims.go: WarnOnlyBoundTokenExpirationSeconds and go-jose's jwt.DefaultLeeway.
WARN_ONLY_EXPIRATION = 3607
LEEWAY = 60
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
ALL_SERVICE_ACCOUNTS = "system:serviceaccounts"
AUTHENTICATED = "system:authenticated"


class TokenError(Exception):
    """Why a token does not authenticate (logged; the client only sees 401 Unauthorized)."""

    def __init__(self, message: str, ours: bool = True) -> None:
        super().__init__(message)
        # False: not a service-account token of this issuer at all, which jwt.go passes on to
        # the other authenticators without an error (a TokenReview then says no more than that).
        self.ours = ours


class TokenRequestError(ValueError):
    """Why a token cannot be issued, in the API server's words (``serviceaccounts "x" not found``)."""


@dataclass(frozen=True)
class UserInfo:
    """user.Info: who a request is from."""

    name: str
    groups: tuple[str, ...]
    uid: str = ""
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def privileged(self) -> bool:
        # authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup): always allowed.
        return "system:masters" in self.groups


# The run's admin (client certificate CN=kubernetes-admin, O=system:masters, or the admin token),
# with the group the authentication filter adds to every authenticated user.
ADMIN = UserInfo("kubernetes-admin", ("system:masters", AUTHENTICATED))


def service_account_user(
    namespace: str, name: str, uid: str = "", extra: dict[str, tuple[str, ...]] | None = None
) -> UserInfo:
    """serviceaccount.UserInfo plus the authenticated group."""
    return UserInfo(
        f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        (ALL_SERVICE_ACCOUNTS, f"{ALL_SERVICE_ACCOUNTS}:{namespace}", AUTHENTICATED),
        uid,
        extra or {},
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ServiceAccountTokens:
    """The API server's token issuer and authenticator, over the store's ServiceAccounts and pods."""

    def __init__(self, store: Store, clock: Clock, key: bytes | None = None) -> None:
        self.store = store
        self.clock = clock
        self.key = key or os.urandom(32)

    # --- TokenRequest ---------------------------------------------------------------------------

    def issue(self, pod: K8sObject, audience: str | None, expiration: int) -> str:
        """A token for the pod's ServiceAccount, bound to the pod (the kubelet's TokenRequest)."""
        spec = pod.to_json().get("spec") or {}
        name = spec.get("serviceAccountName") or "default"
        return self.request(
            pod.metadata.namespace or "default", name, [audience] if audience else [], expiration, pod
        )

    def request(
        self,
        namespace: str,
        name: str,
        audiences: list[str],
        expiration: int,
        pod: K8sObject | None = None,
    ) -> str:
        """TokenRequest: a token of the ServiceAccount, bound to ``pod`` when given."""
        sa = self.store.get("ServiceAccount", namespace, name)
        if sa is None:
            raise TokenRequestError(f'serviceaccounts "{name}" not found')
        now = int(self.clock.wall().timestamp())
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": sa.metadata.uid},
        }
        if pod is not None:
            private["pod"] = {"name": pod.metadata.name, "uid": pod.metadata.uid}
            node_name = (pod.to_json().get("spec") or {}).get("nodeName")
            if node_name:
                node = self.store.get("Node", "", node_name)
                private["node"] = {"name": node_name, "uid": node.metadata.uid if node is not None else ""}
        if expiration == WARN_ONLY_EXPIRATION:
            # The admission plugin's 3607 s token is stretched to a year and warned about after
            # its nominal life (token.go, ExpirationExtensionSeconds); kept as asked here, since
            # the kubelet renews it at 80 % anyway.
            private["warnafter"] = now + expiration
        claims = {
            "aud": audiences or list(API_AUDIENCES),
            "exp": now + expiration,
            "iat": now,
            "iss": ISSUER,
            "jti": _b64(os.urandom(16)),
            "kubernetes.io": private,
            "nbf": now,
            "sub": f"{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}",
        }
        header = _b64(json.dumps({"alg": "HS256", "kid": self._kid()}, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{header}.{body}.{_b64(self._sign(f'{header}.{body}'))}"

    def _kid(self) -> str:
        return _b64(hashlib.sha256(self.key).digest()[:16])

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self.key, signing_input.encode(), hashlib.sha256).digest()

    # --- authentication -------------------------------------------------------------------------

    def authenticate(self, token: str, audiences: tuple[str, ...] | list[str] = API_AUDIENCES) -> UserInfo:
        """The user a token stands for, for one of ``audiences`` (the API server's own unless a
        TokenReview names others); TokenError when it does not authenticate."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("not a JWT", ours=False)
        try:
            header = json.loads(_unb64(parts[0]))
            claims = json.loads(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (ValueError, binascii.Error) as exc:
            raise TokenError("malformed token", ours=False) from exc
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise TokenError("malformed token", ours=False)
        if claims.get("iss") != ISSUER:
            # jwt.go: a token of another issuer is not this authenticator's to judge.
            raise TokenError("token issuer is not the service account issuer", ours=False)
        if header.get("alg") != "HS256" or not hmac.compare_digest(
            signature, self._sign(f"{parts[0]}.{parts[1]}")
        ):
            raise TokenError("invalid signature")
        token_audiences = claims.get("aud")
        if isinstance(token_audiences, str):
            token_audiences = [token_audiences]
        if not isinstance(token_audiences, list) or not set(token_audiences) & set(audiences):
            raise TokenError(
                f"token audiences {_go_quoted(token_audiences)} is invalid for the target audiences "
                f"{_go_quoted(list(audiences))}"
            )
        return self._validate(claims)

    def _validate(self, claims: dict[str, Any]) -> UserInfo:
        """claims.go validator.Validate."""
        now = self.clock.wall().timestamp()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if isinstance(exp, int | float) and now - LEEWAY > exp:
            raise TokenError("service account token has expired")
        if isinstance(nbf, int | float) and now + LEEWAY < nbf:
            raise TokenError("service account token is not valid yet")
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise TokenError(
                "service account token claims could not be validated due to unexpected private claim"
            )
        namespace = str(private.get("namespace") or "")
        saref = private.get("serviceaccount") or {}
        podref = private.get("pod")
        invalid_if_deleted_before = now - LEEWAY
        sa = self.store.get("ServiceAccount", namespace, str(saref.get("name") or ""))
        if sa is None:
            raise TokenError(f'serviceaccounts "{saref.get("name")}" not found')
        if _deleted_before(sa, invalid_if_deleted_before):
            raise TokenError(f"service account {namespace}/{saref.get('name')} has been deleted")
        if sa.metadata.uid != saref.get("uid"):
            raise TokenError(
                f"service account UID ({sa.metadata.uid}) does not match claim ({saref.get('uid')})"
            )
        extra: dict[str, tuple[str, ...]] = {}
        if isinstance(podref, dict):
            pod = self.store.get("Pod", namespace, str(podref.get("name") or ""))
            if pod is None or _deleted_before(pod, invalid_if_deleted_before):
                raise TokenError("service account token has been invalidated")
            if pod.metadata.uid != podref.get("uid"):
                raise TokenError(
                    f"pod UID ({pod.metadata.uid}) does not match service account pod ref claim "
                    f"({podref.get('uid')})"
                )
            # serviceaccount.ServiceAccountInfo.UserInfo: the pod's identity as extra.
            extra["authentication.kubernetes.io/pod-name"] = (pod.metadata.name or "",)
            extra["authentication.kubernetes.io/pod-uid"] = (pod.metadata.uid or "",)
        return service_account_user(namespace, str(saref.get("name")), sa.metadata.uid or "", extra)


def _go_quoted(values: Any) -> str:
    """jwt.go's %q of a []string: ``["a" "b"]``."""
    items = values if isinstance(values, list) else [] if values is None else [values]
    return "[" + " ".join(json.dumps(str(v)) for v in items) + "]"


def _deleted_before(obj: K8sObject, moment: float) -> bool:
    stamp = obj.metadata.deletion_timestamp
    return stamp is not None and stamp.timestamp() < moment
