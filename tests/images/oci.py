"""The image test helpers under one name (builders.py: images; servers.py: registries)."""

from tests.images.builders import (
    BUSYBOX,
    TOOLS,
    Entry,
    add_index,
    build_nginx_image,
    find_nginx,
    layer_tar,
    missing_tools,
    run,
    tree,
    umoci_busybox,
    write_oci_layout,
)
from tests.images.servers import Registry, TokenServer, free_port, htpasswd_line, http_server, wait_for

__all__ = [
    "BUSYBOX",
    "TOOLS",
    "Entry",
    "Registry",
    "TokenServer",
    "add_index",
    "build_nginx_image",
    "find_nginx",
    "free_port",
    "htpasswd_line",
    "http_server",
    "layer_tar",
    "missing_tools",
    "run",
    "tree",
    "umoci_busybox",
    "wait_for",
    "write_oci_layout",
]
