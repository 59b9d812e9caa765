"""The resumable training loop every trainer runs on: steps, the CSV log, checkpoints, signals.

A run lives in a log folder (``<repo>/reports/training/<name>`` by default, see ``default_log_dir``):

- ``checkpoint.pt`` (atomic; not committed): the ``state_dict`` of every object in ``TrainLoop.state``
  (networks, optimizers, schedulers, running generators), the step count, the log rows, the partial
  sums of the current logging interval, ``meta`` (e.g. a warm start's source) and the run's
  ``hparams`` and ``config``. It is written every ``checkpoint_seconds`` of wall time, when the run
  ends, and when SIGINT or SIGTERM arrives (the current step finishes first; the process then exits
  with status 128 + the signal's number). A rerun with the same ``hparams`` and ``config`` resumes
  from it, and continues exactly as an uninterrupted run would, provided each step draws its
  randomness from generators keyed by the step (``genbench.training.seeding``) or from state the
  checkpoint holds; a checkpoint written with other settings is refused.
- ``log.csv``: one row per ``log_every`` steps (and one at the last step): the step count (the
  column is named after ``unit``), the mean over the interval of every value a step returned, images
  per second of step time (``img_per_s``), cumulative step seconds (``train_seconds``), and the
  monitor's values (NaN in rows that were not monitored).

Units: steps count from 0 inside ``step_fn(step)``; a log row's step is the number of steps done
(1-based); seconds are wall seconds spent inside ``step_fn`` (sampling, monitoring and saving excluded).
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genbench.io import atomic_path, atomic_write_csv

REPO_ROOT = Path(__file__).resolve().parents[2]
N_TRAIN = 50_000  # shapes32 train images the trainers learn from by default
CHECKPOINT_SECONDS = 300.0

Row = dict[str, float]  # a log.csv row: column → value


def begin_run(args: argparse.Namespace, model: str) -> tuple[float, torch.device, Path]:
    """A trainer's start: torch's thread count set to ``args.threads``; returns the wall-clock start
    (``time.perf_counter()``), the training device (``args.device``) and the log folder
    (``args.log_dir``, else ``reports/training/<model>``)."""
    from genbench.training.device import training_device

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    return started, training_device(args.device), args.log_dir or default_log_dir(model)


def default_log_dir(name: str) -> Path:
    """``<repo>/reports/training/<name>``: where a trainer logs unless told otherwise."""
    return REPO_ROOT / "reports" / "training" / name


@contextmanager
def stop_requests() -> Iterator[list[int]]:
    """Append the number of each SIGINT/SIGTERM received to the yielded list (checked between steps)
    while the block runs; the previous handlers come back afterwards."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@dataclass
class TrainLoop:
    """Resumable step loop (see the module docstring for the files it writes).

    ``state`` maps names to objects with ``state_dict``/``load_state_dict``; ``images_per_step``
    gives the log's images/s; ``sample_every`` (a multiple of ``log_every``; 0: never) says which
    log rows the monitor fills; ``plot(rows)``, when given, draws the curves after every monitored
    row and when ``run`` returns.
    """

    log_dir: Path
    state: dict[str, Any]
    hparams: dict[str, Any]
    config: dict[str, Any]
    images_per_step: int
    log_every: int
    sample_every: int
    checkpoint_seconds: float = CHECKPOINT_SECONDS
    unit: str = "step"
    plot: Callable[[list[Row]], None] | None = None
    step: int = 0
    rows: list[Row] = field(default_factory=list)
    train_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)  # saved and restored with the checkpoint (e.g. a warm start)
    _sums: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.log_every < 1 or self.sample_every < 0 or self.sample_every % self.log_every:
            raise ValueError(f"sample_every ({self.sample_every}) must be 0 or a multiple of log_every "
                             f"({self.log_every} ≥ 1)")

    @property
    def checkpoint_path(self) -> Path:
        return self.log_dir / "checkpoint.pt"

    def resume(self) -> bool:
        """Restore the state and the log from ``checkpoint_path`` if it exists; False if there is none."""
        if not self.checkpoint_path.is_file():
            return False
        ckpt = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        if ckpt.get("hparams") != self.hparams or ckpt.get("config") != self.config or "state" not in ckpt:
            raise SystemExit(f"{self.checkpoint_path} was written with other settings ({ckpt.get('hparams')}, "
                             f"{ckpt.get('config')}) or by an older trainer; pass --no-resume or delete it")
        for name, obj in self.state.items():
            obj.load_state_dict(ckpt["state"][name])
        self.step, self.rows, self.train_seconds, self._sums = (ckpt["step"], ckpt["log"], ckpt["train_seconds"],
                                                                ckpt["sums"])
        self.meta = ckpt.get("meta", {})
        print(f"resumed from {self.checkpoint_path} at {self.unit} {self.step}", file=sys.stderr)
        return True

    def save_checkpoint(self) -> None:
        """Write the checkpoint, and ``log.csv`` from the rows it holds (so a log lost or truncated
        since, e.g. on a machine that was given back, is whole again after any resumed run)."""
        if self.rows:
            atomic_write_csv(self.log_dir / "log.csv", self.rows)
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save({"state": {n: o.state_dict() for n, o in self.state.items()}, "step": self.step,
                        "log": self.rows, "train_seconds": self.train_seconds,
                        "sums": {k: float(v) for k, v in self._sums.items()}, "meta": self.meta,
                        "hparams": self.hparams, "config": self.config}, tmp)

    def run(self, total_steps: int, step_fn: Callable[[int], dict[str, Any]],
            monitor_fn: Callable[[int], Row] | None = None, deadline: float = math.inf) -> None:
        """Train until ``total_steps`` steps are done or ``time.perf_counter()`` passes ``deadline``.

        ``step_fn(step)`` trains step ``step`` (0-based) and returns the values to log (floats or 0-d
        tensors: a GPU's are read only when a row is written, so steps are not synchronised);
        ``monitor_fn(steps_done)`` writes samples and returns monitor values, and ``monitor_fn(-1)``
        the same keys with NaN. Stopped by SIGINT/SIGTERM: saves the checkpoint, then raises
        ``SystemExit(128 + signal)``.
        """
        last_save = time.perf_counter()
        with stop_requests() as received:
            while self.step < total_steps and not received and time.perf_counter() < deadline:
                t0 = time.perf_counter()
                values = step_fn(self.step)
                self.step += 1
                self.train_seconds += time.perf_counter() - t0
                for k, v in values.items():
                    self._sums[k] = self._sums.get(k, 0.0) + v
                self._sums["_n"] = self._sums.get("_n", 0.0) + 1
                self._sums["_seconds"] = self._sums.get("_seconds", 0.0) + time.perf_counter() - t0
                if self.step % self.log_every == 0 or self.step == total_steps:
                    monitored = self.sample_every > 0 and (self.step % self.sample_every == 0
                                                           or self.step == total_steps)
                    self._log_row(monitored, monitor_fn)
                    print(f"{self.unit} {self.step}/{total_steps}  " + "  ".join(
                        f"{k} {v:.4g}" for k, v in self.rows[-1].items() if k != self.unit), file=sys.stderr,
                        flush=True)
                if time.perf_counter() - last_save > self.checkpoint_seconds:
                    self.save_checkpoint()
                    last_save = time.perf_counter()
            self.save_checkpoint()
        if self.plot is not None and self.rows:
            self.plot(self.rows)
        if received:
            print(f"stopped by signal {received[0]} at {self.unit} {self.step}; checkpoint saved to "
                  f"{self.checkpoint_path}", file=sys.stderr)
            raise SystemExit(128 + received[0])

    def _log_row(self, monitored: bool, monitor_fn: Callable[[int], Row] | None) -> None:
        n, seconds = self._sums.pop("_n"), self._sums.pop("_seconds")
        row = {self.unit: self.step, **{k: float(v) / n for k, v in self._sums.items()},
               "img_per_s": n * self.images_per_step / seconds, "train_seconds": round(self.train_seconds, 1)}
        if monitor_fn is not None:
            row.update(monitor_fn(self.step if monitored else -1))
        self.rows.append(row)
        self._sums = {}
        atomic_write_csv(self.log_dir / "log.csv", self.rows)
        if monitored and self.plot is not None:
            self.plot(self.rows)


def add_run_args(p: argparse.ArgumentParser, device: bool = True) -> None:
    """The options of every argparse trainer: --seed, --threads, --device (unless ``device`` is
    False), --log-dir and --no-resume."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    if device:
        p.add_argument("--device", default="cpu",
                       help="torch device to train on (cpu, cuda, cuda:1, …); monitors run on the CPU")
    p.add_argument("--log-dir", type=Path, default=None, help="default: reports/training/<model>")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="ignore an existing checkpoint")


def add_loop_args(p: argparse.ArgumentParser, log_every: int, sample_every: int, monitor: int,
                  monitor_help: str) -> None:
    """``add_run_args`` and the logging, monitoring and bundling options of the trainers that
    expose them (the VAE, GAN, autoencoder and LDM trainers)."""
    add_run_args(p)
    p.add_argument("--n-train", type=int, default=N_TRAIN, help="train[0:n] images (smaller only for tests)")
    p.add_argument("--log-every", type=int, default=log_every, help="steps per log.csv row")
    p.add_argument("--sample-every", type=int, default=sample_every,
                   help="steps between sample grids and monitor values (a multiple of --log-every)")
    p.add_argument("--monitor", type=int, default=monitor, help=monitor_help)
    p.add_argument("--checkpoint-minutes", type=float, default=CHECKPOINT_SECONDS / 60)
    p.add_argument("--no-bundle", dest="bundle", action="store_false",
                   help="do not write reference_models/ at the end (tests)")
