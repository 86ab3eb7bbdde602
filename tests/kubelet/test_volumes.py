"""Volumes and the environment on a fake clock: what the runtime is asked to mount, the files the
volume manager writes, FailedMount and CreateContainerConfigError with the kubelet's words, a
ConfigMap that arrives late, updates through ..data, and the pod directory's removal."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

from hitless.api.types.config import ConfigMap, Secret
from hitless.api.types.meta import K8sObject
from hitless.cli.up import build_parser
from hitless.clock import FakeClock
from hitless.controllers.volumebinding import LOCAL_PATH_DIR, VolumeBinder
from hitless.engine import Engine, EngineOptions
from hitless.runtime import cri
from hitless.runtime.fake import FakeProgram, FakeRuntime

from .conftest import Env, make_pod, state_of


def config_map(name: str, data: dict[str, str], **extra: Any) -> ConfigMap:
    return ConfigMap.model_validate(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
            "data": data,
            **extra,
        }
    )


def secret(name: str, data: dict[str, bytes]) -> Secret:
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    return Secret.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": "default"},
            "data": encoded,
        }
    )


def recording(programs: dict, name: str = "app") -> list[cri.ContainerConfig]:
    configs: list[cri.ContainerConfig] = []

    def program(config: cri.ContainerConfig) -> FakeProgram:
        configs.append(config)
        return FakeProgram()

    programs[name] = program
    return configs


def pod_with(volumes: list[dict], mounts: list[dict], **container: Any) -> Any:
    app = {"name": "app", "image": "x", "command": ["app"], "volumeMounts": mounts, **container}
    return make_pod(containers=[app], volumes=volumes)


def host_path(mount: cri.Mount) -> Path:
    return Path(mount.host_path)


def volume_dir(env: Env, plugin: str, name: str) -> Path:
    uid = env.pod().metadata.uid
    return env.kubelet.volumes.host.pods_dir / str(uid) / "volumes" / f"kubernetes.io~{plugin}" / name


async def test_config_map_volume_files_modes_and_mount(env: Env, programs: dict) -> None:
    configs = recording(programs)
    env.store.create(config_map("cfg", {"app.yaml": "port: 8080\n", "other": "x"}))
    volumes = [
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 0o640}},
        {
            "name": "picked",
            "configMap": {"name": "cfg", "items": [{"key": "other", "path": "d/o", "mode": 0o600}]},
        },
    ]
    mounts = [{"name": "cfg", "mountPath": "/etc/cfg"}, {"name": "picked", "mountPath": "/p"}]
    env.store.create(pod_with(volumes, mounts))
    await env.clock.advance(1)
    assert state_of(env.status()) == "running"
    [config] = configs
    cfg = volume_dir(env, "configmap", "cfg")
    assert config.mounts == (
        cri.Mount("/etc/cfg", str(cfg), readonly=True),
        cri.Mount("/p", str(volume_dir(env, "configmap", "picked")), readonly=True),
    )
    assert (cfg / "app.yaml").read_text() == "port: 8080\n"
    assert os.readlink(cfg / "app.yaml") == "..data/app.yaml"
    assert os.readlink(cfg / "..data").startswith("..")
    assert (cfg / "app.yaml").stat().st_mode & 0o777 == 0o640
    picked = volume_dir(env, "configmap", "picked")
    assert sorted(p.name for p in picked.iterdir() if not p.name.startswith("..")) == ["d"]
    assert (picked / "d" / "o").stat().st_mode & 0o777 == 0o600


async def test_missing_config_map_waits_with_failed_mount_then_starts(env: Env, programs: dict) -> None:
    configs = recording(programs)
    env.store.create(
        pod_with([{"name": "cfg", "configMap": {"name": "x"}}], [{"name": "cfg", "mountPath": "/c"}])
    )
    await env.clock.advance(5)
    assert state_of(env.status()) == "waiting:ContainerCreating"
    assert env.events("FailedMount")[0] == (
        "FailedMount",
        'MountVolume.SetUp failed for volume "cfg" : configmap "x" not found',
    )
    # Tries at 0, 0.5, 1.5, 3.5 (the operation executor's back-off): one Event, counted.
    [event] = [e for e in env.store.objects("Event") if e.to_json()["reason"] == "FailedMount"]
    assert event.to_json()["count"] == 4
    assert configs == []
    env.store.create(config_map("x", {"k": "v"}))
    await env.clock.advance(2)  # the next try, at 7.5
    assert configs == []
    await env.clock.advance(1)
    assert state_of(env.status()) == "running"
    assert (volume_dir(env, "configmap", "cfg") / "k").read_text() == "v"


async def test_mount_timeout_event(env: Env) -> None:
    env.store.create(
        pod_with([{"name": "cfg", "configMap": {"name": "x"}}], [{"name": "cfg", "mountPath": "/c"}])
    )
    await env.clock.advance(124)
    messages = [m for r, m in env.events("FailedMount") if m.startswith("Unable")]
    assert messages == [
        "Unable to attach or mount volumes: unmounted volumes=[cfg], unattached volumes=[], "
        "failed to process volumes=[]: context deadline exceeded"
    ]


async def test_missing_key_in_items(env: Env) -> None:
    env.store.create(config_map("cfg", {"a": "1"}))
    volumes = [{"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "b", "path": "b"}]}}]
    env.store.create(pod_with(volumes, [{"name": "cfg", "mountPath": "/c"}]))
    await env.clock.advance(1)
    assert env.events("FailedMount")[0][1] == (
        'MountVolume.SetUp failed for volume "cfg" : configmap references non-existent config key: b'
    )


async def test_optional_missing_config_map_mounts_empty(env: Env) -> None:
    volumes = [{"name": "cfg", "configMap": {"name": "x", "optional": True}}]
    env.store.create(pod_with(volumes, [{"name": "cfg", "mountPath": "/c"}]))
    await env.clock.advance(1)
    assert state_of(env.status()) == "running"
    names = [p.name for p in volume_dir(env, "configmap", "cfg").iterdir()]
    assert "..data" in names and [n for n in names if not n.startswith("..")] == []


async def test_update_swaps_data_after_the_sync_period_and_sub_path_keeps_the_old_file(
    env: Env, programs: dict
) -> None:
    configs = recording(programs)
    env.store.create(config_map("cfg", {"v": "1"}))
    volumes = [{"name": "cfg", "configMap": {"name": "cfg"}}]
    mounts = [{"name": "cfg", "mountPath": "/c"}, {"name": "cfg", "mountPath": "/one", "subPath": "v"}]
    env.store.create(pod_with(volumes, mounts))
    await env.clock.advance(1)
    [config] = configs
    cfg = volume_dir(env, "configmap", "cfg")
    sub = host_path(config.mounts[1])
    assert sub.read_text() == "1" and cfg in sub.parents and not sub.is_symlink()
    old_data = os.readlink(cfg / "..data")
    updated = env.store.get("ConfigMap", "default", "cfg")
    assert isinstance(updated, ConfigMap)
    updated = updated.copy_deep()
    updated.data = {"v": "2", "new": "n"}
    env.store.update(updated)
    await env.clock.advance(50)
    assert (cfg / "v").read_text() == "1"  # not before the periodic sync (60-90 s)
    await env.clock.advance(45)
    assert (cfg / "v").read_text() == "2" and (cfg / "new").read_text() == "n"
    assert os.readlink(cfg / "..data") != old_data
    assert not sub.exists()  # the old timestamped directory is gone; a bind mount keeps its inode


async def test_secret_volume_env_and_modes(env: Env, programs: dict) -> None:
    configs = recording(programs)
    env.store.create(secret("s", {"password": b"hunter2", "token": b"t"}))
    volumes = [{"name": "s", "secret": {"secretName": "s", "defaultMode": 0o400}}]
    env_vars = [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "password"}}}]
    env.store.create(pod_with(volumes, [{"name": "s", "mountPath": "/s"}], env=env_vars))
    await env.clock.advance(1)
    [config] = configs
    assert config.env["PASSWORD"] == "hunter2"
    path = volume_dir(env, "secret", "s") / "password"
    assert path.read_bytes() == b"hunter2"
    assert path.stat().st_mode & 0o777 == 0o400


async def test_env_from_prefix_and_key_refs(env: Env, programs: dict) -> None:
    configs = recording(programs)
    env.store.create(config_map("cm", {"A": "a", "B": "b", "1bad": "x"}))
    container = {
        "envFrom": [
            {"configMapRef": {"name": "cm"}, "prefix": "P_"},
            {"secretRef": {"name": "none", "optional": True}},
        ],
        "env": [
            {"name": "A", "value": "$(P_A)-x"},
            {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "B"}}},
            {
                "name": "OPT",
                "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope", "optional": True}},
            },
        ],
    }
    env.store.create(pod_with([], [], **container))
    await env.clock.advance(1)
    [config] = configs
    assert {k: config.env.get(k) for k in ("P_A", "P_B", "P_1bad", "A", "K")} == {
        "P_A": "a",
        "P_B": "b",
        "P_1bad": "x",  # kept since 1.30 (KEP-4369)
        "A": "a-x",
        "K": "b",
    }
    assert "OPT" not in config.env


async def test_strict_env_names_skip_with_event(env: Env, programs: dict) -> None:
    configs = recording(programs)
    assert env.kubelet.containers.sources is not None
    env.kubelet.containers.sources.strict_env_names = True
    env.store.create(config_map("cm", {"GOOD": "g", "1bad": "x", "a-b.c": "y", "..x": "z"}))
    env.store.create(pod_with([], [], envFrom=[{"configMapRef": {"name": "cm"}}]))
    await env.clock.advance(1)
    [config] = configs
    assert config.env["GOOD"] == "g" and config.env["a-b.c"] == "y" and "1bad" not in config.env
    assert env.events("InvalidEnvironmentVariableNames") == [
        (
            "InvalidEnvironmentVariableNames",
            "Keys [..x, 1bad] from the EnvFrom configMap default/cm were skipped since they are "
            "considered invalid environment variable names.",
        )
    ]


async def test_missing_key_is_create_container_config_error_until_it_appears(
    env: Env, programs: dict
) -> None:
    configs = recording(programs)
    env.store.create(config_map("cm", {"other": "1"}))
    ref = {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}
    env.store.create(pod_with([], [], env=[ref]))
    await env.clock.advance(11)  # what a sync did shows at the next: the retry after 10 s
    waiting = env.status().state.waiting
    assert waiting is not None and waiting.reason == "CreateContainerConfigError"
    assert waiting.message == "couldn't find key k in ConfigMap default/cm"
    assert ("Failed", "Error: couldn't find key k in ConfigMap default/cm") in env.events("Failed")
    cm = env.store.get("ConfigMap", "default", "cm")
    assert isinstance(cm, ConfigMap)
    cm = cm.copy_deep()
    cm.data = {"k": "v"}
    env.store.update(cm)
    await env.clock.advance(10)  # the sync retry
    assert state_of(env.status()) == "running"
    assert configs[0].env["K"] == "v"


async def test_missing_secret_env(env: Env) -> None:
    ref = {"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
    env.store.create(pod_with([], [], env=[ref]))
    await env.clock.advance(11)
    waiting = env.status().state.waiting
    assert waiting is not None and (waiting.reason, waiting.message) == (
        "CreateContainerConfigError",
        'secret "s" not found',
    )


async def test_resource_field_ref_limits_requests_and_allocatable(env: Env, programs: dict) -> None:
    configs = recording(programs)
    sources = env.kubelet.containers.sources
    assert sources is not None
    sources.allocatable = dataclasses.replace(sources.allocatable, cpu=Fraction(4))
    resources = {"limits": {"memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}}
    ref = lambda name, res, div=None: {  # noqa: E731
        "name": name,
        "valueFrom": {"resourceFieldRef": {"resource": res, **({"divisor": div} if div else {})}},
    }
    env_vars = [
        ref("MEM_LIMIT", "limits.memory"),
        ref("MEM_LIMIT_MI", "limits.memory", "1Mi"),
        ref("CPU_REQ", "requests.cpu"),
        ref("CPU_REQ_M", "requests.cpu", "1m"),
        ref("CPU_LIMIT", "limits.cpu"),
    ]
    env.store.create(pod_with([], [], env=env_vars, resources=resources))
    await env.clock.advance(1)
    [config] = configs
    assert {k: config.env[k] for k in ("MEM_LIMIT", "MEM_LIMIT_MI", "CPU_REQ", "CPU_REQ_M", "CPU_LIMIT")} == {
        "MEM_LIMIT": str(128 * 2**20),
        "MEM_LIMIT_MI": "128",
        "CPU_REQ": "1",  # 250m rounded up
        "CPU_REQ_M": "250",
        "CPU_LIMIT": "4",  # no limit: the node's allocatable
    }


async def test_empty_dir_shared_projected_downward_and_sub_path_expr(env: Env, programs: dict) -> None:
    configs = recording(programs)
    recorded_side = recording(programs, "side")
    env.store.create(config_map("cm", {"a": "1"}))
    env.store.create(secret("s", {"b": b"2"}))
    volumes = [
        {"name": "scratch", "emptyDir": {}},
        {
            "name": "all",
            "projected": {
                "defaultMode": 0o644,
                "sources": [
                    {"configMap": {"name": "cm"}},
                    {"secret": {"name": "s"}},
                    {
                        "downwardAPI": {
                            "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
                        }
                    },
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                ],
            },
        },
        {
            "name": "dapi",
            "downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]},
        },
    ]
    app = {
        "name": "app",
        "image": "x",
        "command": ["app"],
        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "volumeMounts": [
            {"name": "scratch", "mountPath": "/data"},
            {"name": "scratch", "mountPath": "/mine", "subPathExpr": "$(POD)/x"},
            {"name": "all", "mountPath": "/all"},
            {"name": "dapi", "mountPath": "/dapi", "readOnly": True},
        ],
    }
    side = {
        "name": "side",
        "image": "x",
        "command": ["side"],
        "volumeMounts": [{"name": "scratch", "mountPath": "/d"}],
    }
    pod = make_pod(containers=[app, side], volumes=volumes)
    pod.metadata.labels = {"app": "web", "tier": 'a"b'}
    env.store.create(pod)
    await env.clock.advance(1)
    [config], [side_config] = configs, recorded_side
    scratch = volume_dir(env, "empty-dir", "scratch")
    assert config.mounts[0] == cri.Mount("/data", str(scratch))
    assert side_config.mounts == (cri.Mount("/d", str(scratch)),)
    assert config.mounts[1].host_path == str(scratch / "web" / "x") and (scratch / "web" / "x").is_dir()
    assert scratch.stat().st_mode & 0o777 == 0o777
    projected = volume_dir(env, "projected", "all")
    assert (projected / "a").read_text() == "1" and (projected / "b").read_text() == "2"
    assert (projected / "labels").read_text() == 'app="web"\ntier="a\\"b"'
    _, body, _ = (projected / "token").read_text().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["exp"] - claims["iat"] == 3600
    assert (volume_dir(env, "downward-api", "dapi") / "name").read_text() == "web"


async def test_sub_path_errors(env: Env) -> None:
    volumes = [{"name": "scratch", "emptyDir": {}}]
    env.store.create(pod_with(volumes, [{"name": "scratch", "mountPath": "/x", "subPathExpr": "$(NOPE)"}]))
    await env.clock.advance(11)
    waiting = env.status().state.waiting
    assert waiting is not None and (waiting.reason, waiting.message) == (
        "CreateContainerConfigError",
        "missing value for NOPE",
    )


async def test_host_path_type_checks(env: Env, tmp_path: Path) -> None:
    made = tmp_path / "made"
    volumes = [
        {"name": "a", "hostPath": {"path": str(tmp_path / "nope"), "type": "Directory"}},
        {"name": "b", "hostPath": {"path": str(made), "type": "DirectoryOrCreate"}},
    ]
    mounts = [{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}]
    env.store.create(pod_with(volumes, mounts))
    await env.clock.advance(1)
    assert env.events("FailedMount")[0][1] == (
        'MountVolume.SetUp failed for volume "a" : '
        f"hostPath type check failed: {tmp_path}/nope is not a directory"
    )
    assert made.is_dir() and made.stat().st_mode & 0o777 == 0o755


async def test_pod_directory_removed_with_the_pod(env: Env) -> None:
    env.store.create(
        pod_with([{"name": "scratch", "emptyDir": {}}], [{"name": "scratch", "mountPath": "/d"}])
    )
    await env.clock.advance(1)
    pod_dir = env.kubelet.volumes.pod_dir(str(env.pod().metadata.uid))
    (volume_dir(env, "empty-dir", "scratch") / "file").write_text("x")
    env.store.delete("Pod", "default", "web")
    await env.clock.advance(40)
    assert env.store.get("Pod", "default", "web") is None
    assert not pod_dir.exists()


def claim(name: str, modes: list[str]) -> K8sObject:
    return K8sObject.model_validate(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": modes, "resources": {"requests": {"storage": "1Gi"}}},
        }
    )


async def test_claim_bound_on_first_consumer_and_outlives_the_pod(
    env: Env, tmp_path: Path, programs: dict
) -> None:
    configs = recording(programs)
    binder = VolumeBinder(env.store, env.clock, tmp_path / LOCAL_PATH_DIR)
    binder.start()
    try:
        env.store.create(claim("data", ["ReadWriteOnce"]))
        await env.clock.advance(1)
        pvc = env.store.get("PersistentVolumeClaim", "default", "data")
        assert pvc is not None and pvc.to_json()["status"] == {"phase": "Pending"}
        assert env.events("WaitForFirstConsumer")
        volumes = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
        env.store.create(pod_with(volumes, [{"name": "d", "mountPath": "/data"}]))
        await env.clock.advance(1)
        pvc = env.store.get("PersistentVolumeClaim", "default", "data")
        assert pvc is not None
        data = pvc.to_json()
        assert data["status"] == {
            "phase": "Bound",
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": "1Gi"},
        }
        assert data["spec"]["volumeName"] == f"pvc-{pvc.metadata.uid}"
        directory = tmp_path / LOCAL_PATH_DIR / f"pvc-{pvc.metadata.uid}_default_data"
        assert configs[0].mounts == (cri.Mount("/data", str(directory)),)
        (directory / "kept").write_text("x")
        env.store.delete("Pod", "default", "web")
        await env.clock.advance(40)
        assert env.store.get("Pod", "default", "web") is None
        assert (directory / "kept").read_text() == "x"
    finally:
        await binder.stop()


async def test_claim_with_an_unsupported_access_mode_stays_pending(env: Env, tmp_path: Path) -> None:
    binder = VolumeBinder(env.store, env.clock, tmp_path / LOCAL_PATH_DIR)
    binder.start()
    try:
        env.store.create(claim("shared", ["ReadWriteMany"]))
        volumes = [{"name": "d", "persistentVolumeClaim": {"claimName": "shared"}}]
        env.store.create(pod_with(volumes, [{"name": "d", "mountPath": "/data"}]))
        await env.clock.advance(124)
        assert env.events("ProvisioningFailed")[0][1] == (
            'failed to provision volume with StorageClass "standard": '
            "NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes"
        )
        assert state_of(env.status()) == "waiting:ContainerCreating"
        assert [m for _, m in env.events("FailedMount")] == [
            "Unable to attach or mount volumes: unmounted volumes=[d], unattached volumes=[], "
            "failed to process volumes=[d]: context deadline exceeded"
        ]
    finally:
        await binder.stop()


async def test_empty_dir_over_its_size_limit_evicts_the_pod(env: Env) -> None:
    volumes = [{"name": "scratch", "emptyDir": {"sizeLimit": "4Ki"}}]
    env.store.create(pod_with(volumes, [{"name": "scratch", "mountPath": "/d"}]))
    await env.clock.advance(1)
    (volume_dir(env, "empty-dir", "scratch") / "small").write_bytes(b"x" * 100)
    await env.clock.advance(10)
    assert env.pod().status.phase == "Running"
    (volume_dir(env, "empty-dir", "scratch") / "big").write_bytes(os.urandom(64 * 1024))
    await env.clock.advance(10)
    message = 'Usage of EmptyDir volume "scratch" exceeds the limit "4Ki". '
    assert env.events("Evicted") == [("Evicted", message)]
    await env.clock.advance(5)
    pod = env.pod()  # kept in the API, Failed, as an evicted pod is
    assert (pod.status.phase, pod.status.reason, pod.status.message) == ("Failed", "Evicted", message)
    assert env.signals() == [(20, "SIGTERM")]  # at the manager's second check
    assert state_of(env.status()).startswith("terminated")


async def test_a_volume_no_plugin_serves_is_failed_to_process(env: Env) -> None:
    volumes = [{"name": "nfs", "nfs": {"server": "nfs.example", "path": "/export"}}]
    env.store.create(pod_with(volumes, [{"name": "nfs", "mountPath": "/n"}]))
    await env.clock.advance(124)
    assert state_of(env.status()) == "waiting:ContainerCreating"
    assert [m for _, m in env.events("FailedMount")] == [
        "Unable to attach or mount volumes: unmounted volumes=[nfs], unattached volumes=[], "
        "failed to process volumes=[nfs]: context deadline exceeded"
    ]


async def test_remount_rewrites_only_what_changed_and_renews_the_token_at_80_percent(env: Env) -> None:
    volumes = [
        {
            "name": "t",
            "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 600}}]},
        }
    ]
    env.store.create(pod_with(volumes, [{"name": "t", "mountPath": "/t"}]))
    await env.clock.advance(1)
    directory = volume_dir(env, "projected", "t")
    first = os.readlink(directory / "..data")
    token = (directory / "token").read_text()
    await env.clock.advance(300)  # several periodic syncs, nothing changed: nothing rewritten
    assert os.readlink(directory / "..data") == first
    await env.clock.advance(300)  # past 480 s: renewed at the next sync
    assert (directory / "token").read_text() != token
    assert os.readlink(directory / "..data") != first


async def test_pod_ip_in_env_is_the_sandbox_s_from_the_first_start(env: Env, programs: dict) -> None:
    configs = recording(programs)
    ref = {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    env.store.create(pod_with([], [], env=[ref]))
    await env.clock.advance(1)
    [config] = configs
    assert config.env["IP"] == env.pod().status.pod_ip and config.env["IP"].startswith("127.244.")


def test_sync_frequency_flag_reaches_every_kubelet(tmp_path: Path) -> None:
    args = build_parser().parse_args(["x.yaml", "--sync-frequency", "5"])
    clock = FakeClock()
    engine = Engine(FakeRuntime(clock), clock, EngineOptions(nodes=2, log_dir=tmp_path))
    engine.set_sync_frequency(args.sync_frequency)
    assert [k.volumes.options.sync_period for k in engine.kubelets] == [5.0, 5.0]
    assert build_parser().parse_args(["x.yaml"]).sync_frequency is None


async def test_a_claim_provisioned_on_another_node_is_not_mounted_here(env: Env) -> None:
    bound = claim("data", ["ReadWriteOnce"]).to_json()
    bound["metadata"]["annotations"] = {"volume.kubernetes.io/selected-node": "node-2"}
    bound["spec"]["volumeName"] = "pvc-x"
    bound["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"]}
    env.store.create(K8sObject.model_validate(bound))
    volumes = [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]
    env.store.create(pod_with(volumes, [{"name": "d", "mountPath": "/data"}]))
    await env.clock.advance(124)
    assert state_of(env.status()) == "waiting:ContainerCreating"
    assert [m for _, m in env.events("FailedMount")] == [
        "Unable to attach or mount volumes: unmounted volumes=[d], unattached volumes=[], "
        "failed to process volumes=[d]: context deadline exceeded"
    ]
