"""Stable Diffusion-layout pipelines through ``diffusers:PATH`` agree with diffusers' own
``StableDiffusionPipeline`` on a tiny random pipeline built here from configs.

The pipeline (8×8 latents, 16×16 images): a small ``UNet2DConditionModel`` with cross-attention
over a tiny ``CLIPTextModel`` (from a ``CLIPTextConfig``), a small ``AutoencoderKL`` and a
``CLIPTokenizer`` over a byte-level vocabulary written by the test, saved with
``save_pretrained(safe_serialization=True)``. Both sides load the same folder and start from the
same latents; genbench samples with its own samplers (DDIM η = 0, DPM-Solver++(2M)), diffusers
with ``DDIMScheduler`` / ``DPMSolverMultistepScheduler``. Agreement: ≤ ``TOL`` in pixel space
([0, 1], ``output_type="np"``).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from genbench.cli import main  # noqa: E402
from genbench.diffusion import row_generators, sampler_options, standard_normal  # noqa: E402
from genbench.errors import GenbenchError  # noqa: E402
from genbench.generators.diffusion_model import DenoiserGenerator, is_model_folder  # noqa: E402
from genbench.generators.user import load_generator  # noqa: E402
from genbench.metrics.clip_score import clip_score, truncated_captions  # noqa: E402
from genbench.features.clip import ClipExtractor  # noqa: E402
from genbench.images import signed_unit_to_uint8  # noqa: E402
from genbench.generators.text_to_image import (  # noqa: E402
    TextToImageGenerator,
    count_truncated,
    is_text_to_image_folder,
)

pytestmark = pytest.mark.usefixtures("one_thread")
TOL = 1e-4
STEPS = 3
PROMPTS = ["a cat", "cat sat on a mat", "", "a red cat at the door"]
SCHEDULE = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}


def _byte_chars() -> list[str]:
    """GPT-2 / CLIP's byte-to-unicode table: the 256 base symbols of a byte-level BPE vocabulary."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs, extra = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return [chr(c) for c in cs]


def tiny_tokenizer(folder):
    """A CLIPTokenizer over every byte symbol (alone and word-final) and two merges, 77 tokens long."""
    chars = _byte_chars()
    vocab = {s: i for i, s in enumerate(chars + [c + "</w>" for c in chars])}
    merges = ["a t</w>", "c at</w>"]
    for m in merges:
        vocab["".join(m.split())] = len(vocab)
    vocab |= {"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    return transformers.CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def build_pipeline(root, prediction: str = "epsilon", vae_levels: int = 2):
    """Save a tiny random Stable Diffusion pipeline (DDIMScheduler) under ``root``; return root.
    Images are 8·2^(vae_levels − 1) pixels square (16 by default)."""
    tokenizer = tiny_tokenizer(root.parent / f"{root.name}-vocab")
    torch.manual_seed(0)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    text = transformers.CLIPTextModel(transformers.CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=77, bos_token_id=eos - 1, eos_token_id=eos, pad_token_id=eos))
    unet = diffusers.UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=4, attention_head_dim=4)
    vae = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(8, 16, 16)[:vae_levels],
        down_block_types=("DownEncoderBlock2D",) * vae_levels, up_block_types=("UpDecoderBlock2D",) * vae_levels,
        latent_channels=4, norm_num_groups=4, sample_size=8 * 2 ** (vae_levels - 1))
    scheduler = diffusers.DDIMScheduler(**SCHEDULE, clip_sample=False, prediction_type=prediction)
    pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                             scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)
    pipe.save_pretrained(root, safe_serialization=True)
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """{"epsilon": folder, "v_prediction": the same networks with a v-prediction scheduler}."""
    base = tmp_path_factory.mktemp("sd")
    eps = build_pipeline(base / "eps")
    v = base / "v"
    shutil.copytree(eps, v)
    config = json.loads((v / "scheduler" / "scheduler_config.json").read_text())
    (v / "scheduler" / "scheduler_config.json").write_text(json.dumps(config | {"prediction_type": "v_prediction"}))
    return {"epsilon": eps, "v_prediction": v}


def reference_pipeline(folder, scheduler=None):
    """diffusers' pipeline over the same folder, with the folder's DDIMScheduler at steps_offset 0
    (default: set after construction, since StableDiffusionPipeline's constructor rewrites a DDIM
    config's steps_offset to 1, timesteps 667, 334, 1; genbench's DDIM never reads steps_offset and
    walks the DDIM paper's uniform 666, 333, 0)."""
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(folder, safety_checker=None, requires_safety_checker=False,
                                                             local_files_only=True)
    if scheduler is None:
        config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        scheduler = diffusers.DDIMScheduler.from_config(config, steps_offset=0)
    pipe.scheduler = scheduler
    pipe.set_progress_bar_config(disable=True)
    return pipe


def latents(n: int = len(PROMPTS), seed: int = 0) -> torch.Tensor:
    return torch.randn((n, 4, 8, 8), generator=torch.Generator().manual_seed(seed))


def check(ours: torch.Tensor, theirs: np.ndarray) -> None:
    ours01 = (ours / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    inside = ((theirs > 0) & (theirs < 1)).mean()
    err = np.abs(ours01 - theirs).max()
    print(f"max abs {err:.2e} in pixel space; {inside:.0%} of values unclamped")
    assert inside > 0.5  # the images are not saturated: the comparison sees the values
    assert err <= TOL


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("guidance", [1.0, 4.5])
def test_ddim_matches_stable_diffusion_pipeline(folders, prediction, guidance):
    gen = load_generator(f"diffusers:{folders[prediction]}", prompts=PROMPTS, guidance=guidance, steps=STEPS,
                         device="cpu")
    assert isinstance(gen, TextToImageGenerator) and gen.pipeline.prediction == prediction
    ours = gen.pipeline.generate(PROMPTS, guidance=guidance, sampler="ddim", options=gen.options, noise=latents())
    theirs = reference_pipeline(folders[prediction])(PROMPTS, latents=latents(), guidance_scale=guidance,
                                                     num_inference_steps=STEPS, output_type="np").images
    check(ours, theirs)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_dpmsolver_matches_pipeline_with_dpm_solver_multistep(folders, prediction):
    gen = load_generator(f"diffusers:{folders[prediction]}", prompts=PROMPTS, guidance=4.5, sampler="dpmsolver++",
                         steps=STEPS, device="cpu")
    ours = gen.pipeline.generate(PROMPTS, guidance=4.5, sampler="dpmsolver++", options=gen.options,
                                 noise=latents(seed=1))
    scheduler = diffusers.DPMSolverMultistepScheduler(**SCHEDULE, prediction_type=prediction)  # 2M, linspace
    theirs = reference_pipeline(folders[prediction], scheduler)(
        PROMPTS, latents=latents(seed=1), guidance_scale=4.5, num_inference_steps=STEPS, output_type="np").images
    check(ours, theirs)


def test_negative_prompt_is_the_unconditional_context(folders):
    gen = TextToImageGenerator(folders["epsilon"], prompts=PROMPTS, guidance=3.0, steps=2, device="cpu")
    ours = gen.pipeline.generate(PROMPTS, guidance=3.0, negative_prompt="a mat", options=gen.options,
                                 noise=latents())
    theirs = reference_pipeline(folders["epsilon"])(PROMPTS, negative_prompt=["a mat"] * len(PROMPTS),
                                                    latents=latents(), guidance_scale=3.0, num_inference_steps=2,
                                                    output_type="np").images
    check(ours, theirs)


def test_decode_and_uint8_match_diffusers(folders):
    gen = TextToImageGenerator(folders["epsilon"], prompts=PROMPTS, steps=2, device="cpu")
    pipe = reference_pipeline(folders["epsilon"])
    z = 3 * latents(2)
    ours = gen.pipeline.decode(z)
    with torch.no_grad():
        theirs = pipe.vae.decode(z / pipe.vae.config.scaling_factor).sample
    assert torch.equal(ours, theirs)
    pil = pipe.image_processor.postprocess(theirs, output_type="pil")
    expected = torch.from_numpy(np.stack([np.asarray(p) for p in pil])).permute(0, 3, 1, 2)
    assert torch.equal(signed_unit_to_uint8(ours), expected)


def test_samples_depend_on_seed_index_and_prompt_only(folders):
    gen = TextToImageGenerator(folders["epsilon"], prompts=PROMPTS, guidance=4.5, steps=2, micro_batch=2,
                               device="cpu")
    whole = gen.sample(5, seed=3)
    assert whole.shape == (5, 3, 16, 16) and whole.dtype == torch.uint8
    assert torch.equal(whole, torch.cat([gen.sample_range(3, 0, 1), gen.sample_range(3, 1, 3),
                                         gen.sample_range(3, 4, 1)]))
    assert gen.captions_for(3, 3) == [PROMPTS[3], PROMPTS[0], PROMPTS[1]]  # cycled
    # sample i is x_T from (seed, i) under prompt i, nothing else: change prompt 1 and only sample 1 changes
    other = TextToImageGenerator(gen.pipeline, prompts=[PROMPTS[0], "a cat at a cat", *PROMPTS[2:]], guidance=4.5,
                                 steps=2, micro_batch=2)
    changed = other.sample(5, seed=3)
    assert not torch.equal(changed[1], whole[1])
    assert torch.equal(changed[[0, 2, 3, 4]], whole[[0, 2, 3, 4]])
    noise = standard_normal((2, 4, 8, 8), row_generators(3, 0, 2))
    expected = gen.pipeline.generate(PROMPTS[:2], guidance=4.5, options=gen.options, noise=noise)
    assert torch.equal(whole[:2], signed_unit_to_uint8(expected))


def test_nfe_counts_guided_rows(folders):
    for guidance, per_step in [(1.0, 1), (0.0, 1), (4.5, 2)]:
        gen = TextToImageGenerator(folders["epsilon"], prompts=PROMPTS, guidance=guidance, steps=3, device="cpu")
        assert gen.meta.nfe == 3 * per_step and gen.meta.conditioning == "caption"
        assert gen.meta.resolution == (16, 16) and "U-Net evaluations" in gen.meta.options["nfe_rule"]
    assert json.dumps(gen.meta.to_dict())  # JSON-ready
    assert gen.meta.options["pipeline"]["weights_sha256"]["unet/diffusion_pytorch_model.safetensors"]
    ddpm = TextToImageGenerator(gen.pipeline, prompts=PROMPTS, guidance=2.0, sampler="ddpm")
    assert ddpm.meta.nfe == 2 * 1000


def test_dtype_option(folders):
    gen = TextToImageGenerator(folders["epsilon"], prompts=PROMPTS[:2], guidance=4.5, steps=2, micro_batch=2,
                               dtype="bf16", device="cpu")
    assert gen.pipeline.unet.dtype == torch.bfloat16 and gen.pipeline.text_encoder.dtype == torch.bfloat16
    x = gen.pipeline.generate(PROMPTS[:2], guidance=4.5, options=gen.options, noise=latents(2))
    assert x.dtype == torch.float32 and torch.isfinite(x).all()
    with pytest.raises(GenbenchError, match="unknown dtype"):
        TextToImageGenerator(folders["epsilon"], prompts=PROMPTS, dtype="fp8")


def test_refusals(folders, tmp_path):
    with pytest.raises(GenbenchError, match="needs prompts"):
        TextToImageGenerator(folders["epsilon"], device="cpu")
    pickled = tmp_path / "pickled"
    shutil.copytree(folders["epsilon"], pickled)
    unet = diffusers.UNet2DConditionModel.from_pretrained(pickled / "unet")
    shutil.rmtree(pickled / "unet")
    unet.save_pretrained(pickled / "unet", safe_serialization=False)
    with pytest.raises(GenbenchError, match="refusing pickled weights diffusion_pytorch_model.bin"):
        TextToImageGenerator(pickled, prompts=PROMPTS)
    sdxl = tmp_path / "sdxl"
    shutil.copytree(folders["epsilon"], sdxl)
    index = json.loads((sdxl / "model_index.json").read_text())
    (sdxl / "model_index.json").write_text(json.dumps(index | {"text_encoder_2": ["transformers", "CLIPTextModel"]}))
    with pytest.raises(GenbenchError, match="text_encoder_2"):
        TextToImageGenerator(sdxl, prompts=PROMPTS)


def test_model_folders_are_recognised_without_prefix(folders, tmp_path):
    assert is_text_to_image_folder(folders["epsilon"]) and is_model_folder(folders["epsilon"])
    gen = load_generator(str(folders["epsilon"]), prompts=PROMPTS, steps=2, device="cpu")
    assert isinstance(gen, TextToImageGenerator) and gen.meta.name == str(folders["epsilon"])
    unet = diffusers.UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                                 layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
    unet.save_pretrained(tmp_path / "unet", safe_serialization=True)
    diffusers.DDPMScheduler().save_pretrained(tmp_path / "unet")
    assert is_model_folder(tmp_path / "unet") and not is_text_to_image_folder(tmp_path / "unet")
    assert isinstance(load_generator(str(tmp_path / "unet"), steps=2, device="cpu"), DenoiserGenerator)
    images = tmp_path / "images"
    images.mkdir()
    assert not is_model_folder(images)


def test_count_truncated_uses_the_tokenizer_limit(folders):
    gen = TextToImageGenerator(folders["epsilon"], prompts=["a cat", "cat " * 80, "x " * 75, "x " * 76],
                               steps=2, device="cpu")
    tokenizer = gen.pipeline.tokenizer
    assert count_truncated(tokenizer, ["a cat", "x " * 75, "x " * 76, "cat " * 80, "cat " * 80]) == 3
    assert gen.meta.options["prompts_truncated_by_text_encoder"] == {"count": 2, "of": 4, "max_tokens": 77}
    assert sampler_options("ddim", 1000, steps=2) == gen.options


# --- CLIP score with long prompts, and the command line --------------------------------------------

CLIP_ARCH = "genbench-t2i-tiny-clip"
CLIP_CONFIG = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                                               "head_width": 16},
               "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def clip_home(tmp_path_factory):
    """A GENBENCH_HOME whose weights/ holds a tiny random open_clip model (77-token context, open_clip's
    own BPE tokenizer), registered as the architecture ``CLIP_ARCH``."""
    import open_clip
    from safetensors.torch import save_file

    home = tmp_path_factory.mktemp("clip_home")
    (home / f"{CLIP_ARCH}.json").write_text(json.dumps(CLIP_CONFIG))
    open_clip.add_model_config(home / f"{CLIP_ARCH}.json")
    torch.manual_seed(0)
    model = open_clip.create_model(CLIP_ARCH)
    (home / "weights").mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(home / "weights" /
                                                                            f"clip-{CLIP_ARCH}.safetensors"))
    return home


def test_clip_score_truncates_long_prompts_as_open_clip_and_counts_them(clip_home):
    clip = ClipExtractor(CLIP_ARCH, weights=clip_home / "weights" / f"clip-{CLIP_ARCH}.safetensors", device="cpu")
    words = [f"w{i}" for i in range(120)]  # "w12" is 2 BPE tokens: count with the tokenizer itself
    captions = ["a cat", " ".join(words[:15]), " ".join(words), "x " * 75, "x " * 76]
    full = clip.tokenizer(captions, context_length=400)
    expected = (full[:, 77:] != 0).any(dim=1)  # tokens beyond the 77-token context: cut by the tokenizer
    assert expected.tolist() == [False, False, True, False, True]
    assert torch.equal(truncated_captions(clip.tokenizer, captions), expected)
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    scores = clip_score(images, captions, model=clip)
    assert torch.equal(scores.truncated, expected) and clip.tokenizer.context_length == 77
    # the long caption scores as the caption the model actually reads: its first 75 tokens and the end token
    kept = clip.tokenizer.decode(full[2, 1:76].tolist()).strip()
    assert torch.equal(clip.tokenizer([kept]), clip.tokenizer([captions[2]]))
    torch.testing.assert_close(clip_score(images[2:3], [kept], model=clip), scores[2:3], rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def folder32(tmp_path_factory):
    """A tiny pipeline with 32×32 images (what shapes-net, the features of these tests, takes)."""
    return build_pipeline(tmp_path_factory.mktemp("sd32") / "pipe", vae_levels=3)


def test_eval_cli_records_prompts_and_truncation(folder32, clip_home, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GENBENCH_HOME", str(clip_home))
    prompts = tmp_path / "prompts.jsonl"
    long = " ".join(["cat"] * 90)
    prompts.write_text("\n".join(json.dumps({"caption": c}) for c in ["a cat", long, "a mat"]) + "\n")
    out = tmp_path / "eval"
    rc = main(["eval", str(folder32), "--prompts", str(prompts), "--steps", "2", "--guidance", "3", "-n", "20",
               "--batch-size", "10", "--micro-batch", "5", "--resamples", "5", "--metrics", "fid,clip",
               "--clip-model", f"clip:{CLIP_ARCH}", "--device", "cpu", "--out", str(out), "--quiet",
               "--format", "json"])
    assert rc == 0, capsys.readouterr().err
    record = json.loads((out / "results.json").read_text())["models"][str(folder32)]
    clip = record["metrics"]["clip_score"]
    assert clip["captions_truncated"] == 7  # samples 1, 4, …, 19 have the long prompt
    assert clip["ci"][0] <= clip["value"] <= clip["ci"][1] and record["meta"]["nfe"] == 4
    options = record["meta"]["options"]
    assert options["prompts"]["count"] == 3 and options["prompts_truncated_by_text_encoder"]["count"] == 1
    lines = [json.loads(line) for line in (out / record["prompts"]).read_text().splitlines()]
    assert [r["index"] for r in lines] == list(range(20)) and lines[4]["prompt"] == long


@pytest.mark.parametrize("scales, steps", [((3.0,), (2,)), pytest.param((1.0, 3.0), (2, 3), marks=pytest.mark.slow)])
def test_sweep_guidance_cli_on_a_pipeline_writes_grid_and_tradeoff_plot(folder32, clip_home, tmp_path, monkeypatch,
                                                                      capsys, scales, steps):
    """scales × steps × (DDIM, DPM-Solver++): the default run has 2 cells (one curve each), the slow
    one the 8 cells of --scales 1,3 --steps 2,3."""
    monkeypatch.setenv("GENBENCH_HOME", str(clip_home))
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a cat\na red cat\ncat sat on a mat\n")
    ref = tmp_path / "ref.npz"  # pytorch-fid-style moments only: FID, no k-NN metrics (the test stays fast)
    np.savez(ref, mu=np.zeros(128), sigma=np.eye(128))
    out = tmp_path / "sweep"
    rc = main(["sweep", "guidance", "--model", f"diffusers:{folder32}", "--prompts", str(prompts),
               "--scales", ",".join(f"{s:g}" for s in scales), "--steps", ",".join(map(str, steps)),
               "--sampler", "ddim,dpmsolver++", "-n", "20", "--batch-size", "10", "--micro-batch", "5",
               "--pairs", "4", "--resamples", "5", "--clip-model", f"clip:{CLIP_ARCH}", "--ref", str(ref),
               "--extractor", "shapes-net", "--device", "cpu", "--out", str(out), "--quiet", "--format", "json"])
    assert rc == 0, capsys.readouterr().err
    cells = json.loads(capsys.readouterr().out)
    assert [(c["sampler"], c["steps"], c["guidance"]) for c in cells] == [
        (sampler, k, s) for sampler in ("ddim", "dpmsolver++") for k in steps for s in scales]
    # a guided step is 2 U-Net rows per sample, s = 1 runs the text pass alone
    assert [c["nfe"] for c in cells] == [k * (1 if s == 1 else 2) for _ in range(2) for k in steps for s in scales]
    for c in cells:
        for key in ("fid", "clip_score"):
            assert c[f"{key}_ci_low"] <= c[key] <= c[f"{key}_ci_high"], key
        assert c["images_per_s"] > 0
    md = (out / "guidance.md").read_text()
    assert "| sampler, steps, s | FID |" in md and f"dpmsolver++ S={steps[-1]} s=3" in md
    assert "guidance_tradeoff.png" in md
    assert (out / "guidance.png").stat().st_size > 0 and (out / "guidance_tradeoff.png").stat().st_size > 0
    saved = json.loads((out / "guidance.json").read_text())
    assert saved["provenance"]["generator"]["conditioning"] == "caption"
    assert "U-Net evaluations" in saved["provenance"]["nfe_rule"]
