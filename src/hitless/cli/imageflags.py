"""The image flags ``hitless up`` and ``hitless verify`` share: host-command mappings and where
images come from (registries, mirrors, archives, the local Docker or Podman store, the cache).

An image mapped with ``--image``/``--images`` runs on the host and is never pulled; every other
image is pulled into the cache (``--image-cache``, default ``$XDG_CACHE_HOME/hitless/images``)
and run in its own root filesystem (docs/images.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hitless.kubelet.images import ImageConfigError, ImageService


def add_pull_flags(p: argparse.ArgumentParser) -> None:
    """Where images come from: the flags of every command that may pull."""
    p.add_argument(
        "--registry-mirror",
        action="append",
        default=[],
        metavar="HOST=URL",
        help="pull images of registry HOST from URL instead (repeatable), "
        "e.g. --registry-mirror docker.io=http://127.0.0.1:5000",
    )
    p.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a registry that may be reached over plain HTTP (loopback registries always may)",
    )
    p.add_argument(
        "--image-archive",
        action="append",
        default=[],
        metavar="FILE",
        help="load images from a 'docker save' tarball, an OCI archive or an OCI layout directory "
        "(repeatable), under the names they carry",
    )
    p.add_argument(
        "--image-source",
        choices=("registry", "docker", "podman"),
        default="registry",
        help="docker or podman: take images from that local store ('docker save') before any registry",
    )
    p.add_argument(
        "--image-cache", metavar="DIR", help="the image cache (default $XDG_CACHE_HOME/hitless/images)"
    )
    p.add_argument(
        "--pull-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="give up on a registry that does not answer for S seconds (default 30)",
    )


def add_image_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="run image NAME as COMMAND on the host (its ENTRYPOINT; never pulled), "
        "e.g. --image nginx='nginx -g \"daemon off;\"'",
    )
    p.add_argument(
        "--images", metavar="FILE", help="an images file mapping images to host commands (docs/images.md)"
    )
    add_pull_flags(p)


def image_service(args: argparse.Namespace) -> ImageService:
    """The kubelet's images from the flags; ImageConfigError names the flag that is wrong."""
    # Not at import: the store brings the HTTP client, which `hitless check` and others never need.
    from hitless.images import ImageStore, PullOptions

    try:
        mirrors = PullOptions.parse_mirrors(args.registry_mirror)
    except ValueError as exc:
        raise ImageConfigError(str(exc)) from exc
    if not args.pull_timeout > 0:  # also NaN
        raise ImageConfigError("--pull-timeout must be > 0")
    for archive in args.image_archive:
        if not Path(archive).exists():
            raise ImageConfigError(f"--image-archive {archive}: no such file or directory")
    options = PullOptions(
        mirrors=mirrors,
        insecure_registries=frozenset(args.insecure_registry),
        archives=tuple(Path(a) for a in args.image_archive),
        source=args.image_source,
        timeout=args.pull_timeout,
    )
    # lease=True: `hitless images prune` in another shell keeps what this run uses.
    store = ImageStore(Path(args.image_cache) if args.image_cache else None, options, lease=True)
    images = ImageService(store=store)
    if args.images:
        images.load_file(args.images)
    for flag in args.image:
        images.add_flag(flag)
    return images
