"""Where the credentials to an API server come from: kubeconfig (as kubectl picks and merges
it) or a pod's own ServiceAccount (in-cluster), each giving a host, TLS and auth headers.

kubeconfig, contexts and credentials (client certificates, tokens, exec plugins, OIDC) come from
the official ``kubernetes`` client's config loader (``hitless[cluster]``), the best-kept reading
of kubeconfig there is. Apart from client.py because loading is done once, before any request,
and has its own rules (client-go's loading rules, the in-cluster environment); client.py only
uses the Credentials it returns.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Credentials:
    host: str
    ssl: ssl.SSLContext | bool
    headers: dict[str, str] = field(default_factory=dict)
    refresh: Callable[[], dict[str, str]] | None = None
    # In a pod: the mounted ServiceAccount token, which the kubelet renews in place (at 80 % of
    # its life) and which is read again for each request, as client-go's in-cluster config does.
    token_file: str | None = None


def kubeconfig_files(path: str | None) -> str:
    """The kubeconfig files to read, as kubectl picks them (client-go's clientcmd/loader.go
    ClientConfigLoadingRules): an explicit path alone; else ``$KUBECONFIG``, a list separated by
    ``os.pathsep``; else ``~/.kube/config``. ``$KUBECONFIG`` is read now, not at import."""
    if path:
        return path
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


def load_kubeconfig(path: str | None, context: str | None) -> Credentials:
    """Read ``path`` (or ``$KUBECONFIG``, ``~/.kube/config``) through the official client's loader."""
    from kubernetes import client  # lazy: only cluster mode needs it
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigLoader, KubeConfigMerger

    files = kubeconfig_files(path)
    if path and not os.path.exists(path):
        raise ConfigException(f"stat {path}: no such file or directory")
    # The official merger reads the list as client-go merges it (missing files skipped, the
    # first file to name a cluster, user or context wins) but lets the *last* current-context
    # win; client-go's rule is the first (loader.go: "the first file to set CurrentContext
    # wins"), which is what kubectl uses.
    merger = KubeConfigMerger(files)  # type: ignore[no-untyped-call]
    if merger.config is None:
        raise ConfigException(f"no kubeconfig found in {files}")
    current = [merger.config_files[p].get("current-context") for p in merger.paths]
    first = next((c for c in current if c), None)
    if first is not None:
        merger.config.value["current-context"] = first
    conf = client.Configuration()
    loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
        config_dict=merger.config,
        config_base_path=None,
        active_context=context,
        config_persister=merger.save_changes,
    )
    loader.load_and_set(conf)  # type: ignore[no-untyped-call]
    ctx: ssl.SSLContext | bool
    if conf.verify_ssl:
        ctx = ssl.create_default_context(cafile=conf.ssl_ca_cert)
        if conf.cert_file:
            ctx.load_cert_chain(conf.cert_file, conf.key_file)
    else:
        ctx = False

    def headers() -> dict[str, str]:
        # Exec plugins and OIDC tokens expire; the loader's hook fetches a fresh one.
        if conf.refresh_api_key_hook is not None:
            conf.refresh_api_key_hook(conf)
        token = conf.get_api_key_with_prefix("authorization") or conf.get_api_key_with_prefix("BearerToken")
        return {"Authorization": token} if token else {}

    return Credentials(conf.host.rstrip("/"), ctx, headers(), headers)


SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def load_incluster(root: str = SERVICE_ACCOUNT) -> Credentials:
    """A pod's own access: client-go's ``rest.InClusterConfig`` (rest/config.go), which the
    official client's ``load_incluster_config`` copies: ``KUBERNETES_SERVICE_HOST`` and
    ``_PORT``, the mounted token and ``ca.crt``. Written here rather than imported: the official
    client's config package imports its whole generated API (about 40 MB resident), which the
    load agent's pod does not otherwise load, and the agent's image installs hitless without it.
    Raises OSError (no token mounted) or ValueError (not in a pod)."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ValueError(
            "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and "
            "KUBERNETES_SERVICE_PORT must be defined"
        )
    token_file = os.path.join(root, "token")
    with open(token_file) as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"{token_file} is empty")
    ctx = ssl.create_default_context(cafile=os.path.join(root, "ca.crt"))
    if ":" in host:
        host = f"[{host}]"
    return Credentials(
        f"https://{host}:{port}", ctx, {"Authorization": f"Bearer {token}"}, token_file=token_file
    )
