"""Finding the executable before starting it, with the errors runc (Go's ``exec.LookPath``) gives.

Checking up front lets a missing binary surface as a ``StartError`` with containerd's wording,
instead of as exit code 127 from the ``unshare``/``nsenter`` helpers that do the final exec.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from hitless.runtime.cri import StartError
from hitless.runtime.linux.rootfs import secure_join

# containerd's default when the image config sets no PATH (oci.WithDefaultPathEnv).
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

CREATE_PREFIX = (
    "failed to create containerd task: failed to create shim task: OCI runtime create failed: "
    "runc create failed: unable to start container process: "
)
EXEC_PREFIX = "OCI runtime exec failed: exec failed: unable to start container process: "


class ExecutableError(StartError):
    """``argv[0]`` cannot be executed. ``exit_code`` is what a shell would report for the same
    failure (127 not found, 126 found but not executable), which the kubelet uses for exec
    probes and hooks."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# Where a path of the container is, seen from the engine: the root of an image (its symlinks
# resolved inside it), or a function that also knows the container's mounts (rootfs.locator).
Root = str | Callable[[str], str] | None


def _locate(root: Root, path: str) -> str:
    if callable(root):
        return root(path)
    return secure_join(root, path) if root is not None else path


def _problem(path: str, root: Root = None) -> tuple[str, int] | None:
    """Why ``path`` cannot be executed (Go's findExecutable), or None when it can.

    With ``root``, ``path`` is a path inside the container's root filesystem.
    """
    located = _locate(root, path)
    try:
        st = os.stat(located)
    except OSError as exc:
        return f"stat {path}: {(exc.strerror or str(exc)).lower()}", 127
    if stat.S_ISDIR(st.st_mode):
        return "is a directory", 126
    if not st.st_mode & 0o111 or (root is None and not os.access(path, os.X_OK)):
        return "permission denied", 126
    return None


def resolve(name: str, env: dict[str, str], cwd: str, prefix: str = CREATE_PREFIX, root: Root = None) -> str:
    """The file ``name`` runs, searched in the env's PATH unless it contains a slash; with
    ``root``, inside that root filesystem (an image), and named by its path there.

    Raises :class:`ExecutableError` worded as containerd reports it.
    """
    if not name:
        raise ExecutableError(f'{prefix}exec: "": executable file not found in $PATH: unknown', 127)
    if "/" in name:
        path = name if os.path.isabs(name) else os.path.join(cwd, name)
        problem = _problem(path, root)
        if problem is not None:
            raise ExecutableError(f'{prefix}exec: "{name}": {problem[0]}: unknown', problem[1])
        return path
    for directory in env.get("PATH", DEFAULT_PATH).split(":"):
        # An empty PATH element means the working directory, as in every shell.
        candidate = os.path.join(directory or ".", name)
        if not os.path.isabs(candidate):
            candidate = os.path.join(cwd, candidate)
        if _problem(candidate, root) is None:
            return candidate
    raise ExecutableError(f'{prefix}exec: "{name}": executable file not found in $PATH: unknown', 127)


def runnable_argv(
    argv: list[str], env: dict[str, str], cwd: str, prefix: str = CREATE_PREFIX, root: Root = None
) -> tuple[str, list[str]]:
    """The file argv[0] runs and ``argv`` ready to hand to exec (ExecutableError otherwise).

    Without PATH in the env, the final execvp would search glibc's default PATH rather than
    containerd's, so argv[0] becomes the file that containerd's PATH finds.
    """
    exe = resolve(argv[0] if argv else "", env, cwd, prefix, root)
    if "PATH" not in env and "/" not in argv[0]:
        return exe, [exe, *argv[1:]]
    return exe, list(argv)


def check_working_dir(cwd: str) -> None:
    """runc chdirs into the process cwd before the exec; a missing one fails the start.

    (runc would first create it inside the container's root filesystem; here the root
    filesystem is the machine's own, which the runtime does not write to.)
    """
    if not os.path.isabs(cwd):
        raise StartError(f"{CREATE_PREFIX}cwd {cwd!r} is not an absolute path: unknown")
    if not os.path.isdir(cwd):
        reason = "not a directory" if os.path.exists(cwd) else "no such file or directory"
        raise StartError(
            f"{CREATE_PREFIX}error during container init: "
            f'chdir to cwd ("{cwd}") set in config.json failed: {reason}: unknown'
        )
