"""The shared training library (``genbench.training.loop`` and its helpers): a run stopped by a
signal and resumed ends exactly where an uninterrupted one does, the log's rows, monitors and
plots, refused checkpoints, schedules, EMA, seeding, and that no trainer imports another."""

from __future__ import annotations

import ast
import math
import os
import signal
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from genbench.training import optim
from genbench.training.ema import ema_decay, ema_update
from genbench.training.loop import TrainLoop
from genbench.training.seeding import GeneratorState, offset_generator, seeded_generator

pytestmark = pytest.mark.usefixtures("one_thread")

TIMING = ("img_per_s", "train_seconds")


class Toy:
    """A small regression run: its state is a network, its EMA, Adam and a running generator."""

    def __init__(self, log_dir: Path, hparams: dict | None = None, **loop_options) -> None:
        torch.manual_seed(0)
        self.net = nn.Linear(4, 2)
        self.ema = nn.Linear(4, 2).requires_grad_(False)
        self.ema.load_state_dict(self.net.state_dict())
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-2)
        self.stream = torch.Generator().manual_seed(5)  # drawn from step after step: must be checkpointed
        state = {"net": self.net, "ema": self.ema, "opt": self.opt, "stream": GeneratorState(self.stream)}
        options = {"log_every": 2, "sample_every": 0, **loop_options}
        self.loop = TrainLoop(log_dir, state, hparams or {"lr": 1e-2}, {"net": "Linear(4, 2)"}, 8, **options)

    def step(self, step: int) -> dict[str, torch.Tensor]:
        g = seeded_generator(0, 1, step)
        x = torch.randn(8, 4, generator=g)
        y = x[:, :2] + 0.1 * torch.randn(8, 2, generator=self.stream)
        loss = (self.net(x) - y).square().mean()
        optim.set_learning_rate(optim.warmup_constant(step, 1e-2, 3), self.opt)
        optim.optimizer_step(self.opt, loss, grad_clip=1.0)
        ema_update(self.ema, self.net, ema_decay(step, 0.9))
        return {"loss": loss.detach(), "lr": self.opt.param_groups[0]["lr"]}


def _same_state(a: Toy, b: Toy) -> bool:
    return (all(torch.equal(x, y) for x, y in zip(a.net.state_dict().values(), b.net.state_dict().values()))
            and all(torch.equal(x, y) for x, y in zip(a.ema.state_dict().values(), b.ema.state_dict().values()))
            and torch.equal(a.stream.get_state(), b.stream.get_state()))


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows]


def test_a_run_stopped_by_sigterm_and_resumed_equals_an_uninterrupted_one(tmp_path):
    straight = Toy(tmp_path / "straight")
    straight.loop.run(7, straight.step)

    stopped = Toy(tmp_path / "stopped")

    def step_then_signal(step: int) -> dict[str, torch.Tensor]:
        values = stopped.step(step)
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # the current step finishes, then the loop saves and exits
        return values

    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stop:
        stopped.loop.run(7, step_then_signal)
    assert stop.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is handler  # the loop's handler is gone again

    resumed = Toy(tmp_path / "stopped")  # fresh objects: everything must come from the checkpoint
    assert resumed.loop.resume() and resumed.loop.step == 3
    resumed.loop.run(7, resumed.step)
    assert _same_state(straight, resumed)
    assert _untimed(resumed.loop.rows) == _untimed(straight.loop.rows)
    assert [r["step"] for r in straight.loop.rows] == [2, 4, 6, 7]
    assert (tmp_path / "stopped" / "log.csv").read_text().splitlines()[0].startswith("step,loss,lr,img_per_s")


def test_log_rows_hold_interval_means_and_monitors_fill_sampled_rows(tmp_path):
    plotted, monitored = [], []

    def monitor(step: int) -> dict[str, float]:
        monitored.append(step)
        return {"quality": math.nan if step < 0 else float(step)}

    toy = Toy(tmp_path, sample_every=4, plot=lambda rows: plotted.append(len(rows)))
    losses = []

    def step_fn(step: int) -> dict[str, float]:
        losses.append(float(toy.step(step)["loss"]))
        return {"loss": losses[-1]}

    toy.loop.run(6, step_fn, monitor)
    rows = toy.loop.rows
    assert [r["step"] for r in rows] == [2, 4, 6] and monitored == [-1, 4, 6]  # the last step is monitored
    assert math.isnan(rows[0]["quality"]) and rows[1]["quality"] == 4.0
    assert rows[2]["loss"] == pytest.approx((losses[4] + losses[5]) / 2, rel=1e-12)
    assert plotted == [2, 3, 3]  # after each monitored row, and when the run returns


def test_a_passed_deadline_stops_the_run_with_a_checkpoint(tmp_path):
    toy = Toy(tmp_path)
    toy.loop.run(3, toy.step)
    assert [r["step"] for r in toy.loop.rows] == [2, 3]  # the last step closes a row
    later = Toy(tmp_path)
    assert later.loop.resume()
    later.loop.run(10, later.step, deadline=time.perf_counter() - 1)
    assert later.loop.step == 3 and Toy(tmp_path).loop.resume()


def test_checkpoints_of_other_settings_are_refused(tmp_path):
    toy = Toy(tmp_path)
    toy.loop.run(1, toy.step)
    with pytest.raises(SystemExit, match="other settings"):
        Toy(tmp_path, hparams={"lr": 2e-2}).loop.resume()
    assert not Toy(tmp_path / "empty").loop.resume()


def test_sample_every_must_be_a_multiple_of_log_every(tmp_path):
    with pytest.raises(ValueError, match="multiple"):
        Toy(tmp_path, log_every=3, sample_every=4)


def test_learning_rate_schedules():
    assert [optim.warmup_constant(s, 1.0, 4) for s in (0, 3, 10)] == [0.25, 1.0, 1.0]
    assert [optim.linear_decay(s, 2.0, 2, 6) for s in (0, 2, 4, 5)] == [2.0, 2.0, 1.0, 0.5]
    assert optim.linear_decay(100, 2.0, None, 6) == 2.0
    assert optim.warmup_cosine(1, 1.0, 2, 10) == 1.0 and optim.warmup_cosine(0, 1.0, 2, 10) == 0.5
    assert optim.warmup_cosine(6, 1.0, 2, 10) == pytest.approx(0.5) and optim.warmup_cosine(10, 1.0, 2, 10) == 0.0


def test_optimizer_step_clips_the_global_norm_and_returns_it():
    net = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        net.weight.zero_()
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    norm = optim.optimizer_step(opt, net(torch.tensor([[3.0, 4.0, 0.0]])).sum(), grad_clip=1.0)
    assert float(norm) == pytest.approx(5.0)
    torch.testing.assert_close(net.weight, -torch.tensor([[0.6, 0.8, 0.0]]))
    assert optim.optimizer_step(opt, net(torch.ones(1, 3)).sum()) is None


def test_ema_update_math():
    model, ema = nn.Linear(3, 2), nn.Linear(3, 2)
    bn_model, bn_ema = nn.BatchNorm1d(2), nn.BatchNorm1d(2)
    bn_model.running_mean.fill_(0.7)
    expected = [0.9 * e + 0.1 * p for e, p in zip(ema.parameters(), model.parameters())]
    ema_update(nn.ModuleList([ema, bn_ema]), nn.ModuleList([model, bn_model]), decay=0.9)
    for e, x in zip(ema.parameters(), expected):
        torch.testing.assert_close(e, x, rtol=0, atol=1e-7)
    assert torch.equal(bn_ema.running_mean, bn_model.running_mean)
    assert [ema_decay(s, 0.999) for s in (0, 8)] == [0.1, 0.5] and ema_decay(10 ** 6, 0.999) == 0.999


def test_generators_are_keyed_and_the_running_one_checkpoints():
    assert torch.equal(torch.randn(4, generator=offset_generator(3, 7)),
                       torch.randn(4, generator=torch.Generator().manual_seed(3 * 1_000_003 + 7)))
    assert not torch.equal(torch.randn(4, generator=seeded_generator(0, 0, 1)),
                           torch.randn(4, generator=seeded_generator(0, 1, 0)))
    g = torch.Generator().manual_seed(1)
    torch.randn(3, generator=g)
    saved = GeneratorState(g).state_dict()
    expected = torch.randn(3, generator=g)
    other = GeneratorState(torch.Generator())
    other.load_state_dict(saved)
    assert torch.equal(torch.randn(3, generator=other.generator), expected)


def test_no_trainer_imports_another_trainer():
    """Scripts share code through the library modules of genbench.training, never through each other."""
    for path in sorted(Path(__file__).resolve().parents[1].glob("genbench/training/*.py")):
        tree = ast.parse(path.read_text())
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        scripts = [m for m in imported if m.startswith("genbench.training.train_")]
        assert not scripts, f"{path.name} imports {scripts}"


def test_the_diffusers_trainer_resumes_its_running_generator(tmp_path):
    pytest.importorskip("diffusers")
    from safetensors.torch import load_file

    from genbench.training.train_diffusers_unet import train

    straight = train(tmp_path / "straight", steps=3, batch_size=2)
    train(tmp_path / "resumed", steps=1, batch_size=2)
    resumed = train(tmp_path / "resumed", steps=3, batch_size=2)
    a = load_file(str(straight / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(resumed / "unet" / "diffusion_pytorch_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
