"""Files and directories only their owner can read: what finlab writes holds financial data.

The store gets the same modes from a umask (deltalake writes its files itself); here finlab opens the
files, so the modes are set on each one, whatever the umask, without changing it for other threads.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and its missing parents with mode 0700 (existing directories are left as they are)."""
    folder = Path(path)
    for missing in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
        missing.mkdir(mode=DIRECTORY_MODE, exist_ok=True)
    return folder


@contextlib.contextmanager
def private_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open ``path`` for writing with mode 0600, set before the first byte, also on an existing file."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        yield handle
