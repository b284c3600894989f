"""Replace a file in one step: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block ends without an error it is
    renamed over ``path`` (one atomic rename), else removed and ``path`` stays as it was. The name
    ends in ``.tmp`` so that the recovery of a killed run finds it (orchestration/recovery.py)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
