"""File helpers: atomic writes (temporary file, then rename) and sha256 digests."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def sha256_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_bytes), b""):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or exception inside the block leaves no partial file at ``path`` (and removes the
    temporary). ``suffix`` keeps the extension that some writers insist on (e.g. ``np.savez``
    appends ``.npz`` otherwise).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write text to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_csv(path: str | os.PathLike, rows: list[dict]) -> None:
    """Write dict rows (keys of the first row as the header) as CSV, atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def genbench_home() -> Path:
    """Root for user files: ``$GENBENCH_HOME``, else ``~/.cache/genbench``."""
    return Path(os.environ.get("GENBENCH_HOME", Path.home() / ".cache" / "genbench")).expanduser()


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, shell-quoted, for provenance: ``sys.argv`` with the program
    shown as ``genbench`` when it is the console script or ``python -m genbench``'s ``__main__.py``."""
    import shlex
    import sys

    argv = list(sys.argv if argv is None else argv)
    if argv and Path(argv[0]).name in ("genbench", "__main__.py"):
        argv[0] = "genbench"
    return shlex.join(argv)
