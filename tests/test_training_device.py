"""The training scripts' --device handling: CUDA refused cleanly where absent, recorded commands,
and the CPU default unchanged by the device plumbing."""

from __future__ import annotations

import pytest
import torch

from genbench.io import command_line
from genbench.training import train_ddpm as td
from genbench.training.device import device_label, device_option, training_device
from genbench.training.pixels import uint8_to_signed_unit
from genbench.training.seeding import offset_generator, seeded_generator


def test_cpu_device_and_recorded_option():
    device = training_device("cpu")
    assert device == torch.device("cpu")
    assert device_label(device) == "cpu"
    assert device_option(device) == ""
    assert device_option(torch.device("cuda:1")) == " --device cuda:1"


def test_cuda_refused_with_a_clear_message_where_absent(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="CUDA is not available"):
        training_device("cuda")


def test_unknown_device_is_an_error():
    with pytest.raises(RuntimeError):
        training_device("tpu-please")


def test_explicit_cpu_generators_draw_what_the_default_did():
    """The device argument must not change the CPU streams that resumed runs rely on."""
    images = torch.randint(0, 256, (32, 3, 8, 8), dtype=torch.uint8)
    a = td.draw_batch(images, 4, offset_generator(3, 7))
    b = td.draw_batch(images, 4, offset_generator(3, 7, "cpu"))
    legacy = torch.Generator().manual_seed(3 * 1_000_003 + 7)
    idx = torch.randint(32, (4,), generator=legacy)
    t = torch.randint(td.T, (4,), generator=legacy)
    noise = torch.randn((4, 3, 8, 8), generator=legacy)
    for x, y, z in zip(a, b, (uint8_to_signed_unit(images[idx]), t, noise), strict=True):
        assert torch.equal(x, y) and torch.equal(x, z)
    assert torch.equal(torch.randn(5, generator=seeded_generator(0, 1, 2)),
                       torch.randn(5, generator=seeded_generator(0, 1, 2, device="cpu")))


def test_train_step_moves_the_ema_towards_the_updated_weights():
    """EMA ← decay·EMA + (1 − decay)·model, with the model's weights after the optimizer step."""
    from genbench.diffusion import linear_schedule

    model, ema, optimizer = td.build_training(lr=1e-3, seed=0)
    with torch.no_grad():
        for e in ema.parameters():
            e.add_(0.5)  # EMA away from the model, so the update is visible
    before = [e.detach().clone() for e in ema.parameters()]
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    loss = td.train_step(model, ema, optimizer, linear_schedule(), td.draw_batch(images, 4, offset_generator(0, 0)),
                         lr=1e-3, decay=0.9)
    assert loss.ndim == 0 and not loss.requires_grad
    for e, b, p in zip(ema.parameters(), before, model.parameters(), strict=True):
        torch.testing.assert_close(e, 0.9 * b + 0.1 * p.detach())


@pytest.mark.parametrize(("argv", "expected"), [
    (["/x/venv/bin/genbench", "run", "--out", "a b"], "genbench run --out 'a b'"),
    (["/repo/genbench/__main__.py", "sweep", "guidance"], "genbench sweep guidance"),
    (["other.py", "-n", "5"], "other.py -n 5"),
])
def test_command_line_names_the_program_genbench(argv, expected):
    assert command_line(argv) == expected
