"""The image-source flags, the same on ``hitless up``, ``hitless verify`` and ``hitless images``.

``--registry-mirror HOST=URL`` (repeatable), ``--insecure-registry HOST[:PORT]`` (repeatable),
``--image-archive FILE`` (repeatable), ``--image-source registry|docker|podman``,
``--image-cache DIR``, ``--pull-timeout S``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hitless.images.model import PullOptions, default_root


def add_image_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("images")
    group.add_argument(
        "--registry-mirror",
        action="append",
        default=[],
        metavar="HOST=URL",
        help="pull HOST's images from URL instead (docker.io=http://127.0.0.1:5000); repeatable",
    )
    group.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="allow plain HTTP to this registry (loopback registries always may); repeatable",
    )
    group.add_argument(
        "--image-archive",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a docker save tarball, OCI archive or OCI layout dir whose images are used under "
        "the names they carry; repeatable",
    )
    group.add_argument(
        "--image-source",
        choices=("registry", "docker", "podman"),
        default="registry",
        help="look in the local Docker or Podman store (docker save) before the registry",
    )
    group.add_argument(
        "--image-cache",
        type=Path,
        default=None,
        metavar="DIR",
        help=f"the image cache, shared by every run (default {default_root()})",
    )
    group.add_argument(
        "--pull-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="give up on a registry that does not answer for S seconds (default 30)",
    )


def pull_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> PullOptions:
    """PullOptions from the flags; a malformed flag is a usage error (exit 2)."""
    try:
        mirrors = PullOptions.parse_mirrors(args.registry_mirror)
    except ValueError as err:
        parser.error(str(err))
    if args.pull_timeout <= 0:
        parser.error("--pull-timeout must be > 0")
    for archive in args.image_archive:
        if not archive.exists():
            parser.error(f"--image-archive {archive}: no such file or directory")
    return PullOptions(
        mirrors=mirrors,
        insecure_registries=frozenset(args.insecure_registry),
        archives=tuple(args.image_archive),
        source=args.image_source,
        timeout=args.pull_timeout,
    )


def cache_root(args: argparse.Namespace) -> Path:
    return args.image_cache if args.image_cache is not None else default_root()
