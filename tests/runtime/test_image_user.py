"""The user an image container runs as, resolved in a synthetic image tree as containerd's
oci.WithUser / WithAdditionalGIDs / WithSupplementalGroups resolve it (pkg/oci/spec_opts.go,
internal/cri/opts/spec_opts.go). No container is started: these are the ids PID 1 and every exec
get (tests/runtime/test_image_containers.py checks them in a running container)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitless.runtime.linux.rootfs import Ids, UserError, resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
app:x:1000:1000:the app:/home/app:/bin/sh
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
nogroup-user:x:1001:notanumber::/:/bin/false
"""
GROUP = """root:x:0:
app:x:1000:app
www-data:x:33:
adm:x:4:app,www-data
audio:x:29:app
disk:x:6:www-data
"""


@pytest.fixture
def image(tmp_path: Path) -> str:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    return str(tmp_path)


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        # USER NAME: uid and primary group from passwd, supplementary groups from /etc/group
        # (every group listing the user, except the one named as the user: WithAdditionalGIDs).
        ("app", Ids(1000, 1000, (4, 29, 1000), "/home/app")),
        # USER UID: the same through the passwd entry of that uid.
        ("1000", Ids(1000, 1000, (4, 29, 1000), "/home/app")),
        ("33", Ids(33, 33, (4, 6, 33), "/var/www")),
        # A uid the image does not know: group 0, no supplementary groups (WithUserID).
        ("4242", Ids(4242, 0, (0,), "/")),
        # uid:gid and name:group (runAsUser + runAsGroup, or a runtime given the whole USER).
        ("1000:29", Ids(1000, 29, (4, 29), "/home/app")),
        ("app:adm", Ids(1000, 4, (4, 29), "/home/app")),
        ("4242:7", Ids(4242, 7, (7,), "/")),
        # No user at all: root, with root's groups.
        (None, Ids(0, 0, (0,), "/root")),
        # A primary group that is not a number in passwd counts as 0.
        ("nogroup-user", Ids(1001, 0, (0,), "/")),
    ],
)
def test_image_user(image: str, user: str | None, expected: Ids) -> None:
    assert resolve_user(image, user) == expected


def test_pod_groups_merge_with_the_images(image: str) -> None:
    # fsGroup and supplementalGroups join the image's groups, sorted, without duplicates.
    assert resolve_user(image, "app", (3000, 29)).groups == (4, 29, 1000, 3000)
    # supplementalGroupsPolicy: Strict: the image's /etc/group is not consulted.
    assert resolve_user(image, "app", (3000,), image_groups=False).groups == (1000, 3000)


def test_unknown_names(image: str) -> None:
    with pytest.raises(UserError, match="unable to find user nginx: no matching entries in passwd file"):
        resolve_user(image, "nginx")
    with pytest.raises(UserError, match="unable to find group staff: no matching entries in group file"):
        resolve_user(image, "app:staff")


def test_an_image_without_passwd(tmp_path: Path) -> None:
    # distroless-style: no /etc at all; a numeric USER still runs, as uid:0 with no groups.
    assert resolve_user(str(tmp_path), "65532") == Ids(65532, 0, (0,), "/")


def test_passwd_is_read_inside_the_image(tmp_path: Path) -> None:
    # /etc -> /host-etc-like absolute link: followed inside the image, never onto the host.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "passwd").write_text("svc:x:700:701::/srv:/bin/sh\n")
    (tmp_path / "data" / "group").write_text("svc:x:701:\nextra:x:702:svc\n")
    (tmp_path / "etc").symlink_to("/data")
    assert resolve_user(str(tmp_path), "svc") == Ids(700, 701, (701, 702), "/srv")


def test_unprivileged_engine_refuses_an_unmapped_user(
    tmp_path: Path, image: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unprivileged engine has only the user's own id mapped (as 0): a USER it cannot take is
    # runc's error before the start, with the way out, rather than a bare EINVAL from setuid.
    from datetime import UTC, datetime

    from hitless.runtime.cri import ContainerConfig, StartError
    from hitless.runtime.linux import container

    (Path(image) / "bin").mkdir()
    (Path(image) / "bin" / "app").touch(mode=0o755)
    mapped = [1]
    monkeypatch.setattr(container, "_in_user_namespace", lambda: True)
    monkeypatch.setattr(container, "_mapped_ids", lambda: mapped[0])

    def plan(user: str) -> object:
        config = ContainerConfig("app", ["app"], {"PATH": "/bin"}, None, 0, rootfs=Path(image), user=user)
        c = container.Container("c1", "s1", config, datetime.now(UTC), tmp_path / "log")
        mapped.append(0)  # a fresh scratch directory per plan
        return container._plan(c, tmp_path / f"scratch-{len(mapped)}", None, None)

    with pytest.raises(
        StartError, match="unable to setup user: cannot set uid to unmapped user in user namespace"
    ):
        plan("app")
    assert plan("0") is not None
    # With a subordinate range (newuidmap), the image's ids are mapped, up to its size.
    mapped[0] = 1 + 65536
    assert plan("app") is not None
    with pytest.raises(StartError, match=r"cannot set uid to unmapped user .*map 0 to 65536"):
        plan("70000")
