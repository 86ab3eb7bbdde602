"""The kubelet's volumes: ``manager`` (set up before the containers, refreshed at each periodic
sync), ``plugins`` (each source's SetUp), ``atomic_writer`` (the ``..data`` swap), ``mounts`` (a
container's CRI mounts: subPath, subPathExpr, readOnly), ``tmpfs`` and ``node`` (allocatable,
the ConfigMap and Secret getters). docs/architecture.md, "Volumes and environment"."""
