"""``hitless images ls|pull|prune``: look at and manage the image cache every run shares.

The image-source flags are those of ``hitless up`` and ``hitless verify``: ``--registry-mirror
HOST=URL``, ``--insecure-registry``, ``--image-archive``, ``--image-source``, ``--image-cache``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from hitless.cli.imageflags import add_pull_flags
from hitless.images.model import PullOptions, default_root


def _add_flags(parser: argparse.ArgumentParser) -> None:
    add_pull_flags(parser)  # the same flags as hitless up and verify


def _pull_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> PullOptions:
    """PullOptions from the flags; a malformed flag is a usage error (exit 2)."""
    try:
        mirrors = PullOptions.parse_mirrors(args.registry_mirror)
    except ValueError as err:
        parser.error(str(err))
    if not args.pull_timeout > 0:  # also NaN
        parser.error("--pull-timeout must be > 0")
    archives = tuple(Path(a) for a in args.image_archive)
    for archive in archives:
        if not archive.exists():
            parser.error(f"--image-archive {archive}: no such file or directory")
    return PullOptions(
        mirrors=mirrors,
        insecure_registries=frozenset(args.insecure_registry),
        archives=archives,
        source=args.image_source,
        timeout=args.pull_timeout,
    )


def _cache_root(args: argparse.Namespace) -> Path:
    return Path(args.image_cache) if args.image_cache is not None else default_root()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hitless images",
        description="The image cache: one OCI layout shared by every run, each image unpacked once. "
        "Exit 0: done; 1: a pull failed; 2: bad usage. docs/images.md.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{ls,pull,prune}")
    ls = sub.add_parser("ls", help="list the cached images")
    ls.add_argument("--format", "-o", choices=("text", "json"), default="text")
    _add_flags(ls)
    pull = sub.add_parser("pull", help="pull images into the cache (as the kubelet would)")
    pull.add_argument("references", nargs="+", metavar="IMAGE")
    pull.add_argument("--platform", metavar="OS/ARCH[/VARIANT]", help="default: this machine's")
    _add_flags(pull)
    prune = sub.add_parser("prune", help="remove images and every blob and tree no image needs")
    prune.add_argument("references", nargs="*", metavar="IMAGE", help="images to remove first")
    prune.add_argument("--all", "-a", action="store_true", help="remove every image")
    _add_flags(prune)
    return p


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = _pull_options(parser, args)
    from hitless.images import ImagePullError, ImageStore, Platform

    if args.command == "pull" and args.platform:
        parts = args.platform.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            parser.error("--platform: expected OS/ARCH or OS/ARCH/VARIANT (linux/arm64)")
        from dataclasses import replace

        options = replace(
            options, platform=Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else None)
        )
    store = ImageStore(_cache_root(args), options)

    if args.command == "ls":
        images = store.list_images()
        if args.format == "json":
            rows = [
                {
                    "reference": i.reference,
                    "id": i.id,
                    "repoDigest": i.repo_digest,
                    "size": i.size,
                    "unpacked": i.unpacked,
                    # Each tree by how its owners were written (root, flat-UID-GID, map-HASH): bytes.
                    "trees": i.trees,
                    "created": i.created,
                }
                for i in images
            ]
            print(json.dumps(rows, indent=2))
            return 0
        width = max([len("IMAGE"), *(len(i.reference) for i in images)])
        print(f"{'IMAGE':<{width}}  {'IMAGE ID':<13} {'SIZE':>8}  UNPACKED")
        for i in images:
            short_id = i.id.removeprefix("sha256:")[:13]
            trees = ", ".join(i.trees) or "no"
            print(f"{i.reference:<{width}}  {short_id:<13} {_size(i.size):>8}  {trees}")
        return 0

    if args.command == "prune":
        if args.all and args.references:
            parser.error("--all or IMAGE..., not both")
        result = store.prune(set(args.references) or None, all_images=args.all)
        for reference in result.references:
            print(f"Untagged: {reference}")
        for reference in result.in_use:
            print(f"Kept: {reference} (in use by a running hitless up or verify)")
        freed = _size(result.bytes_freed)
        print(f"Deleted {result.blobs} blobs and {result.trees} unpacked trees; reclaimed {freed}")
        return 0

    async def pull_all() -> int:
        failed = 0
        for reference in args.references:
            start = time.monotonic()
            try:
                image = await store.pull(reference)
            except ImagePullError as err:
                print(f"{reference}: {err.reason}: {err}", file=sys.stderr)
                failed += 1
                continue
            elapsed = time.monotonic() - start
            print(
                f"Pulled {image.reference} ({image.repo_digest}) in {elapsed:.3f}s. "
                f"Image size: {image.size} bytes. Root: {image.rootfs}"
            )
        return 1 if failed else 0

    return asyncio.run(pull_all())
