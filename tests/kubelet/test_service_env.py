"""What a container gets to reach the API and the Services: the Services' environment variables
(kubelet_pods.go getServiceEnvVarMap, pkg/kubelet/envvars) and the service-account token the API
server issues for the pod (the token manager's TokenRequest), on the fake clock."""

from __future__ import annotations

from typing import Any

from hitless.api.types.meta import K8sObject
from hitless.api.types.service import Service
from hitless.apiserver.serviceaccount import ServiceAccountTokens
from hitless.runtime import cri

from .conftest import Env, make_pod, state_of


def service(name: str, namespace: str, cluster_ip: str, ports: list[dict[str, Any]]) -> Service:
    return Service.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterIP": cluster_ip, "ports": ports},
        }
    )


def services(env: Env) -> None:
    env.store.create(service("kubernetes", "default", "127.96.0.1", [{"name": "https", "port": 443}]))
    env.store.create(
        service(
            "web-api",
            "default",
            "127.96.0.20",
            [
                {"port": 80},
                {"name": "grpc-port", "port": 9000, "protocol": "TCP"},
                {"name": "dns", "port": 53, "protocol": "UDP"},
            ],
        )
    )
    env.store.create(service("headless", "default", "None", [{"port": 80}]))
    env.store.create(service("elsewhere", "other", "127.96.0.30", [{"port": 80}]))


def service_vars(config: cri.ContainerConfig) -> dict[str, str]:
    return {k: v for k, v in config.env.items() if "_SERVICE_" in k or "_PORT" in k}


async def test_service_links_and_the_master_service(env: Env, seen: list[cri.ContainerConfig]) -> None:
    services(env)
    app = {
        "name": "app",
        "image": "x",
        "command": ["app", "$(WEB_API_SERVICE_HOST)"],
        "env": [{"name": "URL", "value": "http://$(WEB_API_SERVICE_HOST):$(WEB_API_SERVICE_PORT)"},
                {"name": "KUBERNETES_SERVICE_PORT", "value": "mine"}],
    }  # fmt: skip
    env.store.create(make_pod(containers=[app]))
    await env.clock.advance(1)
    [config] = seen
    assert service_vars(config) == {
        "KUBERNETES_SERVICE_HOST": "127.96.0.1",
        # The container's own variable wins.
        "KUBERNETES_SERVICE_PORT": "mine",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443",
        "KUBERNETES_PORT": "tcp://127.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://127.96.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443",
        "KUBERNETES_PORT_443_TCP_ADDR": "127.96.0.1",
        "WEB_API_SERVICE_HOST": "127.96.0.20",
        "WEB_API_SERVICE_PORT": "80",
        "WEB_API_SERVICE_PORT_GRPC_PORT": "9000",
        "WEB_API_SERVICE_PORT_DNS": "53",
        "WEB_API_PORT": "tcp://127.96.0.20:80",
        "WEB_API_PORT_80_TCP": "tcp://127.96.0.20:80",
        "WEB_API_PORT_80_TCP_PROTO": "tcp",
        "WEB_API_PORT_80_TCP_PORT": "80",
        "WEB_API_PORT_80_TCP_ADDR": "127.96.0.20",
        "WEB_API_PORT_9000_TCP": "tcp://127.96.0.20:9000",
        "WEB_API_PORT_9000_TCP_PROTO": "tcp",
        "WEB_API_PORT_9000_TCP_PORT": "9000",
        "WEB_API_PORT_9000_TCP_ADDR": "127.96.0.20",
        "WEB_API_PORT_53_UDP": "udp://127.96.0.20:53",
        "WEB_API_PORT_53_UDP_PROTO": "udp",
        "WEB_API_PORT_53_UDP_PORT": "53",
        "WEB_API_PORT_53_UDP_ADDR": "127.96.0.20",
    }
    # $(VAR) sees the Services' variables, in env values and in the command.
    assert config.env["URL"] == "http://127.96.0.20:80"
    assert config.argv[-1] == "127.96.0.20"


async def test_without_service_links_only_the_master_service(
    env: Env, seen: list[cri.ContainerConfig]
) -> None:
    services(env)
    env.store.create(
        make_pod(containers=[{"name": "app", "image": "x", "command": ["app"]}], enableServiceLinks=False)
    )
    await env.clock.advance(1)
    [config] = seen
    assert {k for k in service_vars(config)} == {
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "KUBERNETES_SERVICE_PORT_HTTPS",
        "KUBERNETES_PORT",
        "KUBERNETES_PORT_443_TCP",
        "KUBERNETES_PORT_443_TCP_PROTO",
        "KUBERNETES_PORT_443_TCP_PORT",
        "KUBERNETES_PORT_443_TCP_ADDR",
    }


def token_pod() -> Any:
    app = {
        "name": "app",
        "image": "x",
        "command": ["app"],
        "volumeMounts": [{"name": "t", "mountPath": "/var/run/secrets/tokens"}],
    }
    volume = {"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
    return make_pod(containers=[app], volumes=[volume], serviceAccountName="reader")


async def test_the_token_is_the_api_server_s_once_its_service_account_exists(
    env: Env, programs: dict
) -> None:
    tokens = ServiceAccountTokens(env.store, env.clock)
    env.kubelet.volumes.host.request_token = tokens.issue
    env.store.create(token_pod())
    await env.clock.advance(2)
    assert state_of(env.status()) == "waiting:ContainerCreating"
    # pkg/kubelet/token's "failed to fetch token: " around the TokenRequest's NotFound.
    assert env.events("FailedMount")[0] == (
        "FailedMount",
        'MountVolume.SetUp failed for volume "t" : failed to fetch token: serviceaccounts "reader" not found',
    )
    env.store.create(
        K8sObject.model_validate(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "reader", "namespace": "default"},
            }
        )
    )
    await env.clock.advance(5)
    assert state_of(env.status()) == "running"
    uid = env.pod().metadata.uid
    path = (
        env.kubelet.volumes.host.pods_dir / str(uid) / "volumes" / "kubernetes.io~projected" / "t" / "token"
    )
    user = tokens.authenticate(path.read_text())
    assert user.name == "system:serviceaccount:default:reader"
    assert user.groups == ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated")
    assert user.extra["authentication.kubernetes.io/pod-uid"] == (uid,)
