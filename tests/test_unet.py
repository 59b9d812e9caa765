"""The DDPM U-Net: shape contract, FLOP budget, timestep conditioning, sampler plug-in, and the
training step (overfits a fixed batch; checkpoint → resume reproduces the next step exactly)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from genbench.data.shapes32 import shapes32
from genbench.diffusion import ddim_sample, linear_schedule
from genbench.nn.unet import UNet
from genbench.training import train_ddpm as td
from genbench.training.ema import ema_decay
from genbench.training.loop import TrainLoop
from genbench.training.optim import warmup_constant
from genbench.training.seeding import offset_generator
from genbench.training.warm_start import bundle_fields, warm_start, warm_start_step

MAX_GFLOP_PER_IMAGE = 0.15  # FlopCounterMode's count: 2 FLOPs per multiply-add


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def net() -> UNet:
    torch.manual_seed(0)
    return UNet(**td.UNET_CONFIG).eval()


def _perturbed(model: UNet) -> UNet:
    """Random values in the zero-initialised layers, so outputs depend on the inputs."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    return model


def test_output_shape_matches_input(net):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert net(x, torch.tensor([0, 999])).shape == x.shape


def test_latent_configuration_patch_size_one():
    model = UNet(in_channels=4, patch_size=1, channels=(32, 64), attention_levels=(1,))
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert model(x, torch.tensor([5, 7])).shape == x.shape


def test_flops_per_image_within_budget(net):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.randn(2, 3, 32, 32), torch.tensor([10, 500]))
    assert counter.get_total_flops() / 2 <= MAX_GFLOP_PER_IMAGE * 1e9


def test_timestep_changes_the_output():
    model = _perturbed(UNet(**td.UNET_CONFIG))
    x = torch.randn(1, 3, 32, 32).expand(3, -1, -1, -1)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 1, 999]))
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[0], out[2])


def test_plugs_into_ddim_sample():
    x = ddim_sample(_perturbed(UNet(**td.UNET_CONFIG)), (2, 3, 32, 32), linear_schedule(), steps=2,
                    generator=torch.Generator().manual_seed(0))
    assert x.shape == (2, 3, 32, 32) and torch.isfinite(x).all()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return shapes32("train", 0, 64).images


def test_training_step_overfits_a_fixed_batch(images):
    schedule = linear_schedule()
    model, ema, optimizer = td.build_training(lr=1e-3, seed=0)
    batch = td.draw_batch(images, 8, offset_generator(0, 0))
    with torch.no_grad():
        before = float(td.ddpm_loss(model, schedule, *batch))
    for _ in range(30):
        td.train_step(model, ema, optimizer, schedule, batch, lr=1e-3, decay=0.9)
    with torch.no_grad():
        after = float(td.ddpm_loss(model, schedule, *batch))
    assert after < 0.8 * before


def _loop(tmp_path, model, ema, optimizer) -> TrainLoop:
    return TrainLoop(tmp_path, {"model": model, "ema": ema, "optimizer": optimizer}, {}, {}, 8, 1, 0)


def test_checkpoint_resume_reproduces_the_next_step(images, tmp_path):
    schedule = linear_schedule()

    def run_step(model, ema, optimizer, step):
        batch = td.draw_batch(images, 8, offset_generator(0, step))
        return td.train_step(model, ema, optimizer, schedule, batch, warmup_constant(step, 2e-4, td.WARMUP_STEPS),
                             ema_decay(step, 0.9999))

    model, ema, optimizer = td.build_training(lr=2e-4, seed=0)
    loop = _loop(tmp_path, model, ema, optimizer)
    loop.run(3, lambda step: {"loss": run_step(model, ema, optimizer, step)})
    expected = run_step(model, ema, optimizer, 3)

    model2, ema2, optimizer2 = td.build_training(lr=2e-4, seed=1)  # other init: everything must come from the file
    loop2 = _loop(tmp_path, model2, ema2, optimizer2)
    assert loop2.resume() and loop2.step == 3
    assert run_step(model2, ema2, optimizer2, 3) == expected
    for a, b in zip(ema.parameters(), ema2.parameters(), strict=True):
        assert torch.equal(a, b)


def test_refinement_starts_as_the_network_without_it_and_costs_little():
    """Warm start: a checkpoint of the plain network loads into one with the full-resolution
    refinement, whose outputs are then identical (zero-initialised); the FLOP budget still holds."""
    plain = _perturbed(UNet(**td.UNET_CONFIG)).eval()
    refined = UNet(**td.UNET_CONFIG, refine_channels=32).eval()
    missing, unexpected = refined.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("refine_") for k in missing)
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([3, 999])
    with torch.no_grad():
        assert torch.equal(refined(x, t), plain(x, t))
        refined.refine_out.weight.normal_(std=0.02)  # trained: the correction reaches the output
        assert not torch.allclose(refined(x, t), plain(x, t))
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        refined(x, t)
    assert counter.get_total_flops() / 2 <= MAX_GFLOP_PER_IMAGE * 1e9 * 2  # 2 images


def test_warm_start_loads_weights_and_step_and_refuses_other_networks(tmp_path):
    model, ema, optimizer = td.build_training(lr=2e-4, seed=0)
    first = _loop(tmp_path / "first", _perturbed(model), ema, optimizer)
    first.step, first.train_seconds = 7, 12.5
    first.save_checkpoint()
    config = {**td.UNET_CONFIG, "refine_channels": 8}
    model2, ema2, optimizer2 = td.build_training(lr=2e-4, seed=1, unet_config=config)
    loop = _loop(tmp_path / "second", model2, ema2, optimizer2)
    start = warm_start(loop, first.checkpoint_path, model2, ema2, may_lack=("refine_",))
    assert (start.step, start.train_seconds, start.source["kind"]) == (7, 12.5, "checkpoint")
    assert (loop.step, loop.train_seconds, warm_start_step(loop)) == (7, 12.5, 7)
    assert torch.equal(model2.stem.weight, model.stem.weight) and torch.equal(ema2.stem.weight, ema.stem.weight)
    with pytest.raises(SystemExit, match="does not fit"):  # the refinement is new: only a may_lack layer
        warm_start(loop, first.checkpoint_path, model2, ema2)
    other, ema3, _ = td.build_training(lr=2e-4, seed=0, unet_config={**td.UNET_CONFIG, "channels": (32, 64, 64, 64)})
    with pytest.raises(SystemExit, match="does not fit"):
        warm_start(loop, first.checkpoint_path, other, ema3, may_lack=("refine_",))


def test_warm_start_from_bundled_weights_checks_them_and_starts_both_networks(random_bundled_assets, tmp_path):
    """Bundled (fp16) weights start the network and its EMA alike, at the manifest's step count;
    an altered file or one without a step count is refused."""
    from genbench import assets

    model, _, _ = td.build_training(lr=2e-4, seed=0)
    earlier = {"sha256": "ab" * 32, "steps": 5, "device": "cpu", "command": "first"}
    assets.save_bundled_weights("ddpm-unet", _perturbed(model).state_dict(), {"architecture": "UNet"},
                                command="test", fp16=True, steps=11, train_seconds=3.0, device="gpu",
                                lineage=[earlier])
    path = assets.models_dir() / "ddpm-unet.safetensors"
    model2, ema2, optimizer2 = td.build_training(lr=2e-4, seed=1, unet_config={**td.UNET_CONFIG, "refine_channels": 8})
    loop = _loop(tmp_path, model2, ema2, optimizer2)
    start = warm_start(loop, path, model2, ema2, may_lack=("refine_",))
    assert (start.step, start.train_seconds, start.source["kind"]) == (11, 3.0, "bundled")
    sha256 = assets.read_manifest()["ddpm-unet"]["sha256"]
    assert start.source["sha256"] == sha256
    fields = bundle_fields(start.source)  # what the next bundle records: the chain, oldest first
    assert fields["warm_start"] == {"file": "ddpm-unet.safetensors", "kind": "bundled", "sha256": sha256, "step": 11}
    assert fields["lineage"] == [earlier, {"sha256": sha256, "steps": 11, "device": "gpu", "command": "test"}]
    assert bundle_fields(None) == {}
    assert torch.equal(model2.stem.weight, model.stem.weight.half().float())
    assert torch.equal(ema2.stem.weight, model2.stem.weight)
    path.write_bytes(path.read_bytes()[:-2] + b"00")
    with pytest.raises(Exception, match="sha256"):
        warm_start(loop, path, model2, ema2, may_lack=("refine_",))
    assets.save_bundled_weights("ddpm-unet", model.state_dict(), {"architecture": "UNet"}, command="test")
    with pytest.raises(SystemExit, match="step count"):
        warm_start(loop, path, model2, ema2, may_lack=("refine_",))
