"""References as distribution/reference and the kubelet normalize them; pure logic, no registry."""

from __future__ import annotations

import pytest

from hitless.images import ImageConfig, InvalidImageName, Platform, PullOptions, normalize, parse
from hitless.images.archive import pick_platform
from hitless.images.errors import ImagePullError
from hitless.images.reference import is_loopback_host
from hitless.images.registry import endpoints, parse_challenge

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("image", "normalized"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("library/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("team/api", "docker.io/team/api:latest"),
        ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
        ("docker.io/nginx", "docker.io/library/nginx:latest"),
        ("localhost/api:dev", "localhost/api:dev"),
        ("localhost:5000/api", "localhost:5000/api:latest"),
        ("127.0.0.1:5000/a/b/c:v1.2-rc_3", "127.0.0.1:5000/a/b/c:v1.2-rc_3"),
        ("ghcr.io/team/api:v2", "ghcr.io/team/api:v2"),
        ("Registry.Example.com/api", "Registry.Example.com/api:latest"),  # the host may have capitals
        (f"nginx@{DIGEST}", f"docker.io/library/nginx@{DIGEST}"),
        (f"nginx:1.27@{DIGEST}", f"docker.io/library/nginx:1.27@{DIGEST}"),
        ("[::1]:5000/api", "[::1]:5000/api:latest"),
        ("my-registry.example:443/a.b/c-d", "my-registry.example:443/a.b/c-d:latest"),
        ("a__b/c", "docker.io/a__b/c:latest"),
    ],
)
def test_normalize(image: str, normalized: str) -> None:
    assert normalize(image) == normalized


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("", "invalid reference format"),
        ("nginx:", "invalid reference format"),
        ("Nginx", "invalid reference format: repository name (library/Nginx) must be lowercase"),
        ("ghcr.io/Team/api", "invalid reference format: repository name (Team/api) must be lowercase"),
        ("nginx:-bad", "invalid reference format"),
        ("nginx@sha256:abc", "invalid reference format"),
        ("nginx@md5:" + "a" * 32, "unsupported digest algorithm"),
        ("nginx@sha256:" + "a" * 63 + "z" * 1, "invalid reference format"),
        ("nginx@sha256:" + "a" * 60, "invalid checksum digest length"),
        ("a" * 64, f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings"),
        ("x/" + "a" * 260, "repository name must not be more than 255 characters"),
        ("nginx:" + "t" * 129, "invalid reference format"),
        ("/nginx", "invalid reference format"),
        ("nginx//x", "invalid reference format"),
    ],
)
def test_invalid(image: str, why: str) -> None:
    with pytest.raises(InvalidImageName) as err:
        parse(image)
    assert str(err.value) == f'couldn\'t parse image name "{image}": {why}'
    assert err.value.reason == "InvalidImageName"


def test_reference_parts() -> None:
    ref = parse("nginx:1.27")
    assert (ref.domain, ref.path, ref.tag, ref.digest) == ("docker.io", "library/nginx", "1.27", None)
    assert ref.name == "docker.io/library/nginx" and ref.object == "1.27" and ref.familiar == "nginx:1.27"
    assert ref.with_digest(DIGEST) == f"docker.io/library/nginx@{DIGEST}"
    pinned = parse(f"nginx:1.27@{DIGEST}")
    assert pinned.object == DIGEST  # the digest is what is pulled
    assert parse("busybox", default_tag=False).tag is None


def test_loopback_and_endpoints() -> None:
    assert (
        is_loopback_host("127.0.0.1:5000") and is_loopback_host("localhost") and is_loopback_host("[::1]:80")
    )
    assert not is_loopback_host("128.0.0.1") and not is_loopback_host("registry.local:5000")
    none: frozenset[str] = frozenset()
    assert endpoints("docker.io", {}, none) == ["https://registry-1.docker.io"]
    assert endpoints("127.0.0.5:5000", {}, none) == ["http://127.0.0.5:5000"]
    assert endpoints("registry.local:5000", {}, none) == ["https://registry.local:5000"]
    assert endpoints("registry.local:5000", {}, frozenset({"registry.local:5000"})) == [
        "http://registry.local:5000"
    ]
    mirrors = PullOptions.parse_mirrors(["docker.io=http://127.0.0.1:5000/", "docker.io=127.0.0.1:5001"])
    assert mirrors == {"docker.io": ("http://127.0.0.1:5000", "https://127.0.0.1:5001")}
    assert endpoints("docker.io", mirrors, none) == ["http://127.0.0.1:5000", "https://127.0.0.1:5001"]
    for bad in ("docker.io", "=http://x", "docker.io=ftp://x"):
        with pytest.raises(ValueError, match="--registry-mirror"):
            PullOptions.parse_mirrors([bad])


def test_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:a/b:pull",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_pick_platform() -> None:
    def desc(arch: str, variant: str | None = None) -> dict[str, object]:
        platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
        return {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": arch + (variant or ""),
            "platform": platform,
        }

    index = {"manifests": [desc("arm", "v6"), desc("arm", "v7"), desc("amd64"), desc("arm64", "v8")]}
    assert pick_platform(index, Platform("linux", "amd64"), "x")["digest"] == "amd64"
    assert pick_platform(index, Platform("linux", "arm", "v7"), "x")["digest"] == "armv7"
    assert pick_platform(index, Platform("linux", "arm64"), "x")["digest"] == "arm64v8"
    with pytest.raises(ImagePullError, match="no match for platform in manifest x: not found"):
        pick_platform(index, Platform("linux", "s390x"), "x")
    windows = {"manifests": [{**desc("amd64"), "platform": {"os": "windows", "architecture": "amd64"}}]}
    with pytest.raises(ImagePullError):
        pick_platform(windows, Platform("linux", "amd64"), "x")


def test_image_config_from_blob() -> None:
    config = ImageConfig.from_config_blob(
        {
            "config": {
                "Entrypoint": ["/docker-entrypoint.sh"],
                "Cmd": ["nginx", "-g", "daemon off;"],
                "Env": ["PATH=/usr/sbin:/usr/bin", "NGINX_VERSION=1.27"],
                "WorkingDir": "",
                "User": "",
                "StopSignal": "SIGQUIT",
                "ExposedPorts": {"80/tcp": {}},
                "Labels": {"maintainer": "x"},
            }
        }
    )
    assert config.entrypoint == ["/docker-entrypoint.sh"] and config.cmd == ["nginx", "-g", "daemon off;"]
    assert config.working_dir is None and config.user is None and config.stop_signal == "SIGQUIT"
    assert config.exposed_ports == ("80/tcp",) and config.labels == {"maintainer": "x"}
    empty = ImageConfig.from_config_blob({})
    assert (empty.entrypoint, empty.cmd, empty.env) == (None, None, [])
