"""Atomic projection of files into a volume directory: a port of pkg/volume/util/atomic_writer.go.

The visible names are symlinks through ``..data``, itself a symlink to a hidden timestamped
directory holding the real files::

    <dir>/config.yaml -> ..data/config.yaml
    <dir>/..data      -> ..2026_12_06_03_15_02.123456789
    <dir>/..2026_12_06_03_15_02.123456789/config.yaml

An update writes a new timestamped directory, points ``..data_tmp`` at it and renames that over
``..data`` (rename is atomic), so a reader sees the old set of files or the new one, never a mix;
then removes visible names that are gone and the old directory. A payload equal to what is on
disk writes nothing. A ``subPath`` mount binds one file of one timestamped directory, which is
why it never sees an update, as on a node.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MAX_FILE_NAME_LENGTH = 255
MAX_PATH_LENGTH = 4096
DATA_DIR_NAME = "..data"
NEW_DATA_DIR_NAME = "..data_tmp"


class PayloadError(ValueError):
    pass


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int


def validate_path(target: str) -> None:
    """validatePath: relative, no '..' element, no leading '..', names within limits."""
    if target == "":
        raise PayloadError(f'invalid path: must not be empty: "{target}"')
    if os.path.isabs(target):
        raise PayloadError(f"invalid path: must be relative path: {target}")
    if len(target) > MAX_PATH_LENGTH:
        raise PayloadError(f"invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters")
    items = target.split("/")
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {target}")
        if len(item) > MAX_FILE_NAME_LENGTH:
            raise PayloadError(
                f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME_LENGTH} characters"
            )
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {target}")


class AtomicWriter:
    def __init__(self, target_dir: Path, now: datetime | None = None) -> None:
        if not target_dir.exists():
            raise FileNotFoundError(f"stat {target_dir}: no such file or directory")
        self.target_dir = target_dir
        self._now = now

    def write(self, payload: dict[str, FileProjection]) -> bool:
        """Project ``payload``; True if anything on disk changed."""
        for path in payload:
            validate_path(path)
        clean = {os.path.normpath(k): v for k, v in payload.items()}
        data_dir = self.target_dir / DATA_DIR_NAME
        try:
            old_ts = os.readlink(data_dir)
        except FileNotFoundError:
            old_ts = ""
        old_ts_path = self.target_dir / old_ts
        to_remove: set[str] = set()
        if old_ts:
            to_remove = self._paths_to_remove(clean, old_ts_path)
            if not _should_write(clean, old_ts_path) and not to_remove:
                return False
        ts_dir = self._new_timestamp_dir()
        try:
            _write_payload(clean, ts_dir)
            self._create_user_visible_files(clean)
            new_data = self.target_dir / NEW_DATA_DIR_NAME
            os.symlink(ts_dir.name, new_data)
            os.rename(new_data, data_dir)
        except BaseException:
            (self.target_dir / NEW_DATA_DIR_NAME).unlink(missing_ok=True)
            shutil.rmtree(ts_dir, ignore_errors=True)
            raise
        for path in to_remove:
            # Only names at the top are symlinks of ours; deeper ones went with the old directory.
            if "/" not in path:
                (self.target_dir / path).unlink(missing_ok=True)
        if old_ts:
            shutil.rmtree(old_ts_path, ignore_errors=True)
        return True

    def _paths_to_remove(self, payload: dict[str, FileProjection], old_ts_path: Path) -> set[str]:
        current: set[str] = set()
        for root, dirs, files in os.walk(old_ts_path):
            for name in [*dirs, *files]:
                current.add(os.path.relpath(os.path.join(root, name), old_ts_path))
        new_paths: set[str] = set()
        for file in payload:
            sub = file
            while sub:
                new_paths.add(sub)
                sub = os.path.dirname(sub)
        return current - new_paths

    def _new_timestamp_dir(self) -> Path:
        now = self._now or datetime.now(UTC)
        path = Path(tempfile.mkdtemp(prefix=now.strftime("..%Y_%m_%d_%H_%M_%S."), dir=self.target_dir))
        # 0755 whatever the umask: group and other must be able to walk into it.
        path.chmod(0o755)
        return path

    def _create_user_visible_files(self, payload: dict[str, FileProjection]) -> None:
        for visible in payload:
            link = visible.split("/", 1)[0]
            target = self.target_dir / link
            if not target.is_symlink():
                os.symlink(os.path.join(DATA_DIR_NAME, link), target)


def _should_write(payload: dict[str, FileProjection], old_ts_path: Path) -> bool:
    for path, projection in payload.items():
        on_disk = old_ts_path / path
        if not on_disk.exists() and not on_disk.is_symlink():
            return True
        if on_disk.read_bytes() != projection.data:
            return True
    return False


def _write_payload(payload: dict[str, FileProjection], directory: Path) -> None:
    for path, projection in payload.items():
        full = directory / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_bytes(projection.data)
        # Chmod after the write: the mode is the volume's, whatever the umask.
        full.chmod(projection.mode & 0o7777)
