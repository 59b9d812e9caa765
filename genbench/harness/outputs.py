"""Where a command's files go: ``RunFolder`` writes into one folder, or nowhere.

Every file a command writes (results, reports, grids, plots, sweep tables) goes through a
``RunFolder``, so the two rules live here and nowhere else: under torchrun only rank 0 writes
(the other ranks' folders are inactive), and every file is written atomically (a temporary file
renamed onto its name), so an interrupted command never leaves half a file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from genbench.harness.distributed import is_main
from genbench.io import atomic_write_text


class RunFolder:
    """A folder that rank 0 writes into; ``RunFolder(None)`` (or any rank but 0) writes nothing and
    every method returns None."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = None if path is None else Path(path)
        self.active = self.path is not None and is_main()

    def write_text(self, name: str, text: str) -> Path | None:
        """``text`` as the file ``name`` (atomically)."""
        return self.write_with(name, lambda path: atomic_write_text(path, text))

    def save_grid(self, images: torch.Tensor, name: str) -> Path | None:
        """``images`` (uint8 or [0, 1] float NCHW) as one grid PNG ``name``."""
        from genbench.reports.grids import save_grid

        return self.write_with(name, lambda path: save_grid(images, path))

    def write_with(self, name: str, write: Callable[[Path], object]) -> Path | None:
        """Call ``write(path)`` for the file ``name`` (a writer that is atomic itself: the figure and
        grid savers are); returns the path, or None when this folder writes nothing."""
        if not self.active:
            return None
        path = self.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        return path
