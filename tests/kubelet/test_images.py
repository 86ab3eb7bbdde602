"""The kubelet's image manager on a fake clock: pull policies, Events, back-off, statuses, and the
image config under Kubernetes' command/args rules (podman's regressions as cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hitless.clock import FakeClock
from hitless.images import Image, ImageConfig, ImagePullError, parse
from hitless.kubelet.images import ImageService
from hitless.runtime import cri

from .conftest import Env, make_pod

DIGEST = "sha256:" + "ab" * 32
CONFIG_ID = "sha256:" + "cd" * 32


class FakeImageSource:
    """An image store whose pulls take ``pull_seconds`` of the fake clock, or fail."""

    def __init__(self, clock: FakeClock, tmp: Path) -> None:
        self.clock = clock
        self.tmp = tmp
        self.present: dict[str, Image] = {}
        # Content in the cache without the tree this run's owners need (images/owners.py).
        self.content_only: dict[str, Image] = {}
        self.registry: dict[str, ImageConfig] = {}
        self.failures: dict[str, ImagePullError] = {}
        self.pulls: list[tuple[float, str]] = []
        self.pull_seconds = 0.0
        self.last_pull_seconds: dict[str, float] = {}
        self.closed = False
        self.auths: list[Any] = []

    def image(self, reference: str, config: ImageConfig) -> Image:
        rootfs = self.tmp / reference.replace("/", "_")
        rootfs.mkdir(exist_ok=True)
        return Image(str(parse(reference)), CONFIG_ID, DIGEST, rootfs, config, 4321)

    def get(self, reference: str) -> Image | None:
        return self.present.get(str(parse(reference)))

    async def unpack_present(self, reference: str) -> Image | None:
        key = str(parse(reference))
        if key in self.content_only:
            self.present[key] = self.content_only.pop(key)
        return self.present.get(key)

    async def aclose(self) -> None:
        self.closed = True

    async def pull(self, reference: str, auth: Any = None) -> Image:
        key = str(parse(reference))
        self.pulls.append((self.clock.now(), key))
        self.auths.append(auth)
        await self.clock.sleep(self.pull_seconds)
        if key in self.failures:
            raise self.failures[key]
        if key not in self.registry:
            raise ImagePullError(f'failed to pull and unpack image "{key}": not found', cause="not found")
        self.present[key] = self.image(reference, self.registry[key])
        self.last_pull_seconds[key] = self.pull_seconds
        return self.present[key]


@pytest.fixture
def source(tmp_path: Path) -> FakeImageSource:
    # The env fixture makes its own FakeClock; the source learns it in `env_with`.
    return FakeImageSource(FakeClock(), tmp_path)


@pytest.fixture
def images(source: FakeImageSource) -> ImageService:
    return ImageService(store=source)


@pytest.fixture
def env_with(env: Env, source: FakeImageSource) -> Env:
    source.clock = env.clock
    return env


NGINX = ImageConfig(
    entrypoint=["/docker-entrypoint.sh"],
    cmd=["nginx", "-g", "daemon off;"],
    env=["PATH=/usr/local/sbin:/usr/bin:/bin", "NGINX_VERSION=1.27.0"],
    working_dir="/usr/share/nginx",
    user="101",
    stop_signal="SIGQUIT",
)


async def test_pulled_once_then_present(
    env_with: Env, source: FakeImageSource, seen: list[cri.ContainerConfig]
) -> None:
    env = env_with
    source.registry["docker.io/library/nginx:1.27"] = NGINX
    source.pull_seconds = 0.83
    env.store.create(make_pod(containers=[{"name": "app", "image": "nginx:1.27"}]))
    await env.clock.advance(5)
    pulled = (
        'Successfully pulled image "nginx:1.27" in 830ms (830ms including waiting). Image size: 4321 bytes.'
    )
    assert [e for e in env.events() if e[0] in ("Pulling", "Pulled")] == [
        ("Pulling", 'Pulling image "nginx:1.27"'),
        ("Pulled", pulled),
    ]
    st = env.status()
    assert st.image == "docker.io/library/nginx:1.27"
    assert st.image_id == f"docker.io/library/nginx@{DIGEST}"
    (config,) = seen
    # No command or args: ENTRYPOINT + CMD; the image's env, workdir, user and stop signal.
    assert config.argv == ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
    assert config.env["NGINX_VERSION"] == "1.27.0" and config.env["PATH"] == "/usr/local/sbin:/usr/bin:/bin"
    # The engine's HOME, LANG and TZ stay out of an image's environment (runc sets HOME).
    assert "HOME" not in config.env and config.env["HOSTNAME"] == "web"
    assert (config.working_dir, config.user, config.stop_signal) == ("/usr/share/nginx", "101", 3)
    assert config.rootfs == source.present["docker.io/library/nginx:1.27"].rootfs
    assert config.termination_message_path == "/dev/termination-log"
    # A second pod of the same image: IfNotPresent (tagged), already present, no pull.
    env.store.create(make_pod("web2", containers=[{"name": "app", "image": "nginx:1.27"}]))
    await env.clock.advance(5)
    assert len(source.pulls) == 1
    assert ("Pulled", 'Container image "nginx:1.27" already present on machine') in env.events("Pulled")


@pytest.mark.parametrize(
    ("container", "argv"),
    [
        # podman#6995: command replaces ENTRYPOINT and drops CMD.
        ({"command": ["nginx"]}, ["nginx"]),
        # podman#8902: args replace CMD, ENTRYPOINT stays.
        ({"args": ["-v"]}, ["/docker-entrypoint.sh", "-v"]),
        ({"command": ["sh", "-c"], "args": ["echo hi"]}, ["sh", "-c", "echo hi"]),
        # podman#8803: neither set: ENTRYPOINT + CMD.
        ({}, ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]),
    ],
)
async def test_command_and_args_over_entrypoint_and_cmd(
    env_with: Env,
    source: FakeImageSource,
    container: dict[str, Any],
    argv: list[str],
    seen: list[cri.ContainerConfig],
) -> None:
    source.present["docker.io/library/nginx:1.27"] = source.image("nginx:1.27", NGINX)
    env_with.store.create(make_pod(containers=[{"name": "app", "image": "nginx:1.27", **container}]))
    await env_with.clock.advance(1)
    assert [c.argv for c in seen] == [argv]


async def test_pod_settings_win_over_the_image(
    env_with: Env, source: FakeImageSource, seen: list[cri.ContainerConfig]
) -> None:
    source.present["docker.io/library/nginx:1.27"] = source.image("nginx:1.27", NGINX)
    spec = {
        "name": "app",
        "image": "nginx:1.27",
        "workingDir": "/srv",
        "env": [{"name": "NGINX_VERSION", "value": "mine"}],
        "securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
        "lifecycle": {"stopSignal": "SIGTERM"},
    }
    env_with.store.create(make_pod(containers=[spec]))
    await env_with.clock.advance(1)
    (config,) = seen
    assert (config.working_dir, config.user, config.stop_signal) == ("/srv", "1000:3000", 15)
    assert config.env["NGINX_VERSION"] == "mine"


async def test_image_user_group_and_pod_groups(
    env_with: Env, source: FakeImageSource, seen: list[cri.ContainerConfig]
) -> None:
    # The kubelet passes on only the image USER's part before ":" (kubernetes/kubernetes#61967,
    # #93666): the runtime finds the group in the image's passwd. fsGroup, then
    # supplementalGroups, become the CRI's supplemental groups.
    grouped = ImageConfig(entrypoint=["app"], user="1000:2000")
    source.present["docker.io/library/nginx:1.27"] = source.image("nginx:1.27", grouped)
    sc = {"fsGroup": 3000, "supplementalGroups": [4000, 5000]}
    env_with.store.create(make_pod(containers=[{"name": "app", "image": "nginx:1.27"}], securityContext=sc))
    env_with.store.create(
        make_pod(
            "strict",
            containers=[{"name": "app", "image": "nginx:1.27"}],
            securityContext={"supplementalGroupsPolicy": "Strict"},
        )
    )
    await env_with.clock.advance(1)
    merge, strict = sorted(seen, key=lambda c: c.supplemental_groups, reverse=True)
    assert (merge.user, merge.supplemental_groups, merge.image_groups) == ("1000", (3000, 4000, 5000), True)
    assert (strict.user, strict.supplemental_groups, strict.image_groups) == ("1000", (), False)


async def test_run_as_non_root_refuses_a_named_image_user(env_with: Env, source: FakeImageSource) -> None:
    named = ImageConfig(entrypoint=["nginx"], user="www-data")
    source.present["docker.io/library/nginx:1.27"] = source.image("nginx:1.27", named)
    spec = {"name": "app", "image": "nginx:1.27", "securityContext": {"runAsNonRoot": True}}
    env_with.store.create(make_pod(containers=[spec]))
    await env_with.clock.advance(11)  # the reason shows from the next sync on
    st = env_with.status()
    assert st.state.waiting is not None and st.state.waiting.reason == "CreateContainerConfigError"
    assert (st.state.waiting.message or "").startswith(
        "container has runAsNonRoot and image has non-numeric user (www-data), cannot verify user is non-root"
    )


async def test_never_without_the_image(env_with: Env) -> None:
    spec = {"name": "app", "image": "nginx:1.27", "imagePullPolicy": "Never"}
    env_with.store.create(make_pod(containers=[spec]))
    await env_with.clock.advance(11)
    st = env_with.status()
    message = 'Container image "nginx:1.27" is not present with pull policy of Never'
    assert st.state.waiting is not None
    assert (st.state.waiting.reason, st.state.waiting.message) == ("ErrImageNeverPull", message)
    assert ("ErrImageNeverPull", message) in env_with.events("ErrImageNeverPull")
    assert ("Failed", "Error: ErrImageNeverPull") in env_with.events("Failed")


async def test_content_pulled_with_other_owners_is_present(
    env_with: Env, source: FakeImageSource, seen: list[cri.ContainerConfig]
) -> None:
    # `hitless images pull` by the user, then a run with subordinate ids: its tree is unpacked
    # from the cache, and the image is present, as content is for containerd (Never runs it).
    source.content_only["docker.io/library/nginx:1.27"] = source.image("nginx:1.27", NGINX)
    spec = {"name": "app", "image": "nginx:1.27", "imagePullPolicy": "Never"}
    env_with.store.create(make_pod(containers=[spec]))
    await env_with.clock.advance(5)
    assert source.pulls == [] and not source.content_only
    present = 'Container image "nginx:1.27" already present on machine'
    assert env_with.events("Pulled") == [("Pulled", present)]
    assert [c.rootfs for c in seen] == [source.present["docker.io/library/nginx:1.27"].rootfs]


async def test_always_pulls_a_present_image(env_with: Env, source: FakeImageSource) -> None:
    source.registry["docker.io/library/nginx:latest"] = NGINX
    source.present["docker.io/library/nginx:latest"] = source.image("nginx", NGINX)
    env_with.store.create(make_pod(containers=[{"name": "app", "image": "nginx"}]))  # defaulted: Always
    await env_with.clock.advance(1)
    assert [ref for _, ref in source.pulls] == ["docker.io/library/nginx:latest"]


async def test_failed_pull_backs_off_10s_doubling(env_with: Env, source: FakeImageSource) -> None:
    env_with.store.create(make_pod(containers=[{"name": "app", "image": "nginx:1.27"}]))
    await env_with.clock.advance(160)
    # The 10 s sync retry meets the back-off (10 s doubling from the last failed pull).
    assert [t for t, _ in source.pulls] == [0, 10, 30, 70, 150]
    assert env_with.states()[:3] == [
        "waiting:ContainerCreating",
        "waiting:ErrImagePull",
        "waiting:ImagePullBackOff",
    ]
    failed = env_with.events("Failed")
    assert ("Failed", 'Failed to pull image "nginx:1.27": failed to pull and unpack image '
            '"docker.io/library/nginx:1.27": not found') in failed  # fmt: skip
    assert ("Failed", "Error: ErrImagePull") in failed and ("Failed", "Error: ImagePullBackOff") in failed
    assert ("BackOff", 'Back-off pulling image "nginx:1.27"') in env_with.events("BackOff")
    # The image appears at the registry: the next pull after the back-off succeeds.
    source.registry["docker.io/library/nginx:1.27"] = NGINX
    await env_with.clock.advance(170)
    assert env_with.status().state.running is not None


async def test_registry_unavailable_and_invalid_names(env_with: Env, source: FakeImageSource) -> None:
    from hitless.images import RegistryUnavailable

    source.failures["docker.io/library/nginx:1.27"] = RegistryUnavailable(
        "dial tcp 127.0.0.1:1: connection refused"
    )
    env_with.store.create(make_pod(containers=[{"name": "app", "image": "nginx:1.27"}]))
    env_with.store.create(make_pod("bad", containers=[{"name": "app", "image": "Nginx:1.27"}]))
    await env_with.clock.advance(11)
    st = env_with.status()
    assert st.state.waiting is not None and st.state.waiting.reason == "RegistryUnavailable"
    assert st.state.waiting.message == (
        "image pull failed for nginx:1.27 because the registry is unavailable: "
        "dial tcp 127.0.0.1:1: connection refused"
    )
    bad = env_with.status("bad")
    assert bad.state.waiting is not None and bad.state.waiting.reason == "InvalidImageName"
    assert (bad.state.waiting.message or "").startswith('Failed to apply default image tag "Nginx:1.27": ')
    assert any(r == "InspectFailed" for r, _ in env_with.events())


async def test_a_mapped_image_runs_on_the_host_and_is_never_pulled(
    env_with: Env,
    source: FakeImageSource,
    images: ImageService,
    programs: dict,
    seen: list[cri.ContainerConfig],
) -> None:
    images.add_flag("team/api=api-server --port 8080")
    env_with.store.create(make_pod(containers=[{"name": "app", "image": "team/api:v2"}]))
    await env_with.clock.advance(1)
    assert source.pulls == []
    (config,) = seen
    assert (config.argv, config.rootfs, config.user) == (["api-server", "--port", "8080"], None, None)


async def test_image_pull_secrets_are_passed_to_the_pull(env_with: Env, source: FakeImageSource) -> None:
    import base64
    import json

    from hitless.api.types.config import Secret

    config = {"auths": {"registry.example.com": {"auth": base64.b64encode(b"me:pw").decode()}}}
    encoded = base64.b64encode(json.dumps(config).encode()).decode()
    env_with.store.create(
        Secret.from_json(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "regcred", "namespace": "default"},
                "type": "kubernetes.io/dockerconfigjson",
                "data": {".dockerconfigjson": encoded},
            }
        )
    )
    source.registry["registry.example.com/team/api:2"] = NGINX
    secrets = [{"name": "regcred"}, {"name": "missing"}]
    pod = make_pod(
        containers=[{"name": "app", "image": "registry.example.com/team/api:2"}], imagePullSecrets=secrets
    )
    env_with.store.create(pod)
    await env_with.clock.advance(1)
    assert source.auths == [[config]]
    assert (
        "FailedToRetrieveImagePullSecret",
        "Unable to retrieve some image pull secrets (missing); attempting to pull the image may not succeed.",
    ) in env_with.events("FailedToRetrieveImagePullSecret")
    assert env_with.status().state.running is not None
