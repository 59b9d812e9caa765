"""Text-to-image latent diffusion pipelines in the diffusers Stable Diffusion layout, sampled by
genbench's samplers with classifier-free guidance.

A pipeline folder (``save_pretrained`` layout, local files only, nothing downloaded) holds
``model_index.json``, ``unet/`` (``UNet2DConditionModel``), ``vae/`` (``AutoencoderKL``),
``text_encoder/`` (transformers ``CLIPTextModel``), ``tokenizer/`` (``CLIPTokenizer``) and
``scheduler/scheduler_config.json``. Weights are read from ``.safetensors`` only; a component
holding pickled ``.bin`` weights is refused. Read from the scheduler config as
``Denoiser.from_diffusers`` reads it: the β schedule, ``prediction_type`` ("epsilon" or
"v_prediction") and ``clip_sample``; its ``timestep_spacing``, ``steps_offset`` and
``set_alpha_to_one`` are not used (the spacing is a sampler option; after the last timestep ᾱ = 1).

Sampling samples with prompts p_i (StableDiffusionPipeline's conventions):

- text: ``tokenizer(p, padding="max_length", max_length=model_max_length, truncation=True)``, then
  ``text_encoder(ids)[0]`` (with the attention mask when the text encoder's config sets
  ``use_attention_mask``); the unconditional context is the negative prompt (default "") encoded
  the same way, one row per sample. Prompts longer than ``model_max_length`` tokens (77 for CLIP)
  are truncated as the pipeline truncates them; ``count_truncated`` counts them.
- guidance w: the U-Net runs on the doubled batch [x; x] with contexts [uncond; text] and its
  output is out_u + w·(out_t − out_u), applied to the raw output (ε or v) as the pipeline does.
  At w = 1 only the text pass runs (as diffusers, which skips guidance for w ≤ 1), at w = 0 only
  the unconditional pass. For 0 < w < 1 genbench applies the formula, where diffusers would run
  the text pass alone.
- latents: x_T ~ N(0, I) of shape (latent_channels, sample_size, sample_size) (the scheduler's
  ``init_noise_sigma`` is 1 for every genbench sampler: DDPM, DDIM, DPM-Solver++), sampled in
  float32 with the network in ``dtype`` (inputs cast to it, outputs back to float32), no clipping
  unless the scheduler config asks for it;
- decode: ``vae.decode(z / scaling_factor)``; images in [−1, 1] → uint8 as diffusers' image
  processor does: ``(x/2 + 0.5).clamp(0, 1)``, × 255, rounded half to even
  (``genbench.images.signed_unit_to_uint8``, the same bits).

``TextToImageGenerator``: sample i draws x_T from its own generator seeded with (seed, i)
(``row_generators``), gets prompt i = ``prompts[i mod len(prompts)]`` and is computed in
micro-batch ⌊i / m⌋ of exactly ``micro_batch`` = m samples (``genbench.microbatch``), so it
depends only on (seed, i, prompt i), whatever the batch size or the number of processes.

Cost: ``meta.nfe`` counts U-Net evaluations per sample: steps (T for ddpm) × 2 when guided (the
doubled batch is two network rows per sample), × 1 at w = 1 or w = 0. The text encoder (two
rows per sample: the prompt and the negative prompt) and the VAE decoder (one per sample) are
not network evaluations in that count, but their time is in the measured throughput.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from genbench.diffusion import Denoiser, DiffusionSchedule, row_generators, run_sampler, sampler_nfe, sampler_options
from genbench.diffusion.denoiser import DIFFUSERS_HINT, _scheduler_settings, _sha256
from genbench.diffusion.guidance import nfe_per_step
from genbench.errors import GenbenchError
from genbench.generators.base import Generator, GeneratorMeta
from genbench.images import signed_unit_to_uint8
from genbench.microbatch import check_micro_batch, sample_aligned
from genbench.nn.device import default_device

DTYPES = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
          "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
MICRO_BATCH = 8  # samples per U-Net call (16 rows when guided); part of what a sample is
NFE_RULE = ("U-Net evaluations per sample: steps x 2 when guided (the [uncond; text] batch is two rows per sample), "
            "steps x 1 at guidance 1 (text only) or 0 (uncond only); text encoder and VAE decoder not counted")
PREDICTIONS = ("epsilon", "v_prediction")
# CLIP score model for text-to-image pipelines unless one is named: OpenAI's ViT-L/14 (torchmetrics'
# CLIPScore default), open_clip weights fetched on first use
DEFAULT_CLIP_MODEL = "clip:ViT-L-14-quickgelu:openai"


def is_text_to_image_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder in the Stable Diffusion layout: a ``model_index.json`` naming a
    ``text_encoder``, or a ``unet/config.json`` of a ``UNet2DConditionModel``."""
    path = Path(path)
    index = path / "model_index.json"
    if index.is_file():
        try:
            return "text_encoder" in json.loads(index.read_text())
        except (OSError, ValueError):
            return False
    return _class_name(path / "unet" / "config.json") == "UNet2DConditionModel"


def _class_name(config: Path) -> str | None:
    try:
        return json.loads(config.read_text()).get("_class_name") if config.is_file() else None
    except (OSError, ValueError):
        return None


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"fp32"``/``"fp16"``/``"bf16"`` (or their long names, or a torch dtype) as a torch dtype."""
    if isinstance(dtype, torch.dtype):
        if dtype not in DTYPES.values():
            raise GenbenchError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
        return dtype
    if dtype not in DTYPES:
        raise GenbenchError(f"unknown dtype {dtype!r}; allowed: fp32, fp16, bf16")
    return DTYPES[dtype]


def _safetensors_of(folder: Path, what: str) -> tuple[list[Path], str | None]:
    """(the .safetensors files of a component, the diffusers weights variant to load, e.g. "fp16")."""
    if not folder.is_dir():
        raise GenbenchError(f"{folder} is missing: a Stable Diffusion-layout folder has {', '.join(COMPONENTS)}/")
    files = sorted(p for p in folder.glob("*.safetensors"))
    if not files:
        pickled = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.ckpt"))
        raise GenbenchError(f"no .safetensors weights for the {what} in {folder}" + (
            f"; refusing pickled weights {', '.join(pickled)} (convert them with save_pretrained("
            "safe_serialization=True))" if pickled else ""))
    plain = [p for p in files if len(p.name.split(".")) == 2]
    variants = sorted({p.name.split(".")[-2] for p in files if len(p.name.split(".")) == 3})
    return files, None if plain or not variants else variants[0]


def count_truncated(tokenizer: Any, prompts: Sequence[str], max_length: int | None = None) -> int:
    """How many of ``prompts`` a transformers tokenizer truncates: those whose token ids (with the
    start and end tokens) are longer than ``max_length`` (default ``tokenizer.model_max_length``)."""
    limit = max_length or tokenizer.model_max_length
    distinct = sorted(set(prompts))
    if not distinct:
        return 0
    lengths = {p: len(ids) for p, ids in zip(distinct, tokenizer(distinct, truncation=False).input_ids)}
    return sum(lengths[p] > limit for p in prompts)


@dataclass(eq=False)
class TextToImagePipeline:
    """The parts of a Stable Diffusion-layout pipeline, on one device, in one dtype (module docstring).

    ``latent_shape``: (C, h, w) of the latents; ``resolution``: (H, W) of the images
    (h·f, w·f with f = 2^(len(vae block_out_channels) − 1)); ``info``: provenance (path, component
    classes, weights sha256, scheduler settings)."""

    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: Any
    schedule: DiffusionSchedule
    prediction: str
    clip_sample: float | None
    scaling_factor: float
    latent_shape: tuple[int, int, int]
    resolution: tuple[int, int]
    dtype: torch.dtype = torch.float32
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, path: str | Path, dtype: str | torch.dtype = "fp32",
                    device: str | torch.device | None = None) -> TextToImagePipeline:
        """Load a Stable Diffusion-layout folder (local files, safetensors only) in ``dtype`` on
        ``device`` (default CUDA when present). Refused with a one-line ``GenbenchError``: pickled
        weights, SDXL-style extra text encoders, U-Nets with extra conditioning (LCM's
        ``time_cond_proj_dim``, ``addition_embed_type``, class embeddings) or other input channels
        than the VAE's latents (inpainting), schedulers with thresholding or zero-SNR rescaling."""
        try:
            import transformers
            from diffusers import AutoencoderKL, UNet2DConditionModel
        except ImportError as exc:
            raise ImportError(f"text-to-image pipelines need diffusers and transformers: {DIFFUSERS_HINT}") from exc
        root = Path(path)
        if not root.is_dir():
            raise GenbenchError(f"{root} is not a folder (text-to-image pipelines are read from local save_pretrained "
                                "folders)")
        index = json.loads((root / "model_index.json").read_text()) if (root / "model_index.json").is_file() else {}
        extra = sorted(k for k in index if k in ("text_encoder_2", "tokenizer_2", "transformer", "prior"))
        if extra:
            raise GenbenchError(f"{root} holds {', '.join(extra)}: only the Stable Diffusion 1.x/2.x layout (one CLIP "
                                "text encoder, a UNet2DConditionModel) is supported")
        torch_dtype = resolve_dtype(dtype)
        weights: dict[str, str] = {}
        variants: dict[str, str | None] = {}
        for name in ("unet", "vae", "text_encoder"):
            files, variants[name] = _safetensors_of(root / name, name)
            weights |= {f"{name}/{p.name}": _sha256(p) for p in files}
        unet_cfg = json.loads((root / "unet" / "config.json").read_text())
        if unet_cfg.get("_class_name", "UNet2DConditionModel") != "UNet2DConditionModel":
            raise GenbenchError(f"{root / 'unet'} holds a {unet_cfg['_class_name']}, not a UNet2DConditionModel")
        for key in ("time_cond_proj_dim", "addition_embed_type", "class_embed_type", "num_class_embeds"):
            if unet_cfg.get(key) is not None:
                raise GenbenchError(f"{root / 'unet'}: {key}={unet_cfg[key]!r} is extra conditioning that "
                                    "genbench's text-to-image sampling does not provide")
        sched_file = root / "scheduler" / "scheduler_config.json"
        if not sched_file.is_file():
            raise GenbenchError(f"no scheduler config at {sched_file}")
        sched_cfg = json.loads(sched_file.read_text())
        try:
            betas, prediction, clip, settings = _scheduler_settings(sched_cfg)
        except ValueError as exc:
            raise GenbenchError(f"{sched_file}: {exc}") from None
        if prediction not in PREDICTIONS:
            raise GenbenchError(f"{sched_file}: prediction_type {prediction!r} is not supported; allowed: "
                                f"{', '.join(PREDICTIONS)}")
        load = {"use_safetensors": True, "local_files_only": True, "torch_dtype": torch_dtype}
        unet = UNet2DConditionModel.from_pretrained(root / "unet", variant=variants["unet"], **load)
        vae = AutoencoderKL.from_pretrained(root / "vae", variant=variants["vae"], **load)
        if unet.config.in_channels != vae.config.latent_channels:
            raise GenbenchError(f"{root}: the U-Net takes {unet.config.in_channels} channels but the VAE's latents "
                                f"have {vae.config.latent_channels} (an inpainting or other conditioned model?)")
        text_encoder = transformers.CLIPTextModel.from_pretrained(
            root / "text_encoder", use_safetensors=True, local_files_only=True, dtype=torch_dtype,
            **({"variant": variants["text_encoder"]} if variants["text_encoder"] else {}))
        tokenizer = transformers.CLIPTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
        size = unet.config.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        scaling = float(vae.config.scaling_factor)
        info = {"source": "diffusers text-to-image", "path": str(root),
                "classes": {k: index[k][1] for k in COMPONENTS if isinstance(index.get(k), list)},
                "dtype": str(torch_dtype).removeprefix("torch."), "weights_sha256": weights,
                "scaling_factor": scaling, "text_max_length": int(tokenizer.model_max_length),
                **settings, "scheduler_keys_not_used": {k: sched_cfg[k] for k in
                                                        ("timestep_spacing", "steps_offset", "set_alpha_to_one")
                                                        if k in sched_cfg}}
        pipe = cls(unet.eval().requires_grad_(False), vae.eval().requires_grad_(False),
                   text_encoder.eval().requires_grad_(False), tokenizer, DiffusionSchedule(betas), prediction, clip,
                   scaling, (int(unet.config.in_channels), int(h), int(w)), (int(h) * factor, int(w) * factor),
                   torch_dtype, info=info)
        return pipe.to(device if device is not None else default_device())

    def to(self, device: str | torch.device) -> TextToImagePipeline:
        """Move the networks to ``device`` (in place); returns self."""
        self.device = torch.device(device)
        for module in (self.unet, self.vae, self.text_encoder):
            module.to(self.device)
        return self

    @property
    def parameters(self) -> int:
        """Parameters that sampling uses: U-Net, text encoder and the VAE decoder (with post_quant_conv)."""
        decoder = [self.vae.decoder] + ([self.vae.post_quant_conv] if getattr(self.vae, "post_quant_conv", None)
                                        is not None else [])
        return sum(p.numel() for m in (self.unet, self.text_encoder, *decoder) for p in m.parameters())

    @torch.inference_mode()
    def encode_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        """(n, L, d) text-encoder states of ``prompts`` in the pipeline's dtype (module docstring)."""
        tokens = self.tokenizer(list(prompts), padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        mask = (tokens.attention_mask.to(self.device)
                if getattr(self.text_encoder.config, "use_attention_mask", False) else None)
        states = self.text_encoder(tokens.input_ids.to(self.device), attention_mask=mask)[0]
        return states.to(self.dtype)

    def denoiser(self, cond: torch.Tensor, uncond: torch.Tensor, guidance: float) -> Denoiser:
        """The guided Denoiser for contexts ``cond`` and ``uncond`` (n rows each) at scale ``guidance``."""
        if not guidance >= 0:
            raise GenbenchError(f"guidance must be >= 0, got {guidance}")
        unet, dtype = self.unet, self.dtype

        def call(x: torch.Tensor, t: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
            return unet(x.to(dtype), t, encoder_hidden_states=context).sample.to(x.dtype)

        if guidance == 1:
            def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return call(x, t, cond)
        elif guidance == 0:
            def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                return call(x, t, uncond)
        else:
            both = torch.cat([uncond, cond])

            def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                out_u, out_t = call(torch.cat([x, x]), torch.cat([t, t]), both).chunk(2)
                return out_u + guidance * (out_t - out_u)

        return Denoiser(net, self.schedule, self.prediction, self.clip_sample, sample_shape=self.latent_shape,
                        info=self.info)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Images in [−1, 1] (unclamped, float32, on the pipeline's device) of ``vae.decode(z / scaling_factor)``."""
        z = (latents.to(self.device) / self.scaling_factor).to(self.vae.dtype)
        return self.vae.decode(z).sample.float()

    @torch.inference_mode()
    def generate(self, prompts: Sequence[str], *, guidance: float = 7.5, negative_prompt: str | None = None,
                 sampler: str = "ddim", options: dict | None = None, noise: torch.Tensor | None = None,
                 generator: Any = None, progress: bool = False) -> torch.Tensor:
        """Float images in [−1, 1] (n, 3, H, W), unclamped, for ``prompts``: guided sampling from
        x_T = ``noise`` (n, *latent_shape) or drawn from ``generator`` (as the samplers draw), then
        the decode. ``options``: from ``sampler_options`` (default: its defaults for ``sampler``)."""
        prompts = list(prompts)
        cond = self.encode_prompts(prompts)
        uncond = self.encode_prompts([negative_prompt or ""] * len(prompts))
        options = sampler_options(sampler, self.schedule.T) if options is None else options
        z = run_sampler(self.denoiser(cond, uncond, guidance), (len(prompts), *self.latent_shape), sampler, options,
                        generator=generator, noise=noise, device=self.device, progress=progress)
        return self.decode(z)


class TextToImageGenerator(Generator):
    """Samples of a Stable Diffusion-layout pipeline (module docstring): ``prompts`` (a non-empty list,
    cycled over sample indices), ``negative_prompt`` (one for every sample; default ""),
    ``guidance`` w ≥ 0 (default 7.5, diffusers' default), ``sampler`` "ddim" (default), "ddpm" or
    "dpmsolver++" with its options (``genbench.diffusion.sampler_options``: steps default 50,
    eta, spacing, sigma_hat, variance, final_sigma), ``dtype`` fp32 / fp16 / bf16, ``device``,
    ``micro_batch`` (default 8). ``pipeline``: a folder or a loaded ``TextToImagePipeline``."""

    def __init__(self, pipeline: str | Path | TextToImagePipeline, prompts: Sequence[str] | None = None,
                 negative_prompt: str | None = None, guidance: float = 7.5, sampler: str = "ddim", steps: int = 50,
                 eta: float = 0.0, spacing: str | None = None, sigma_hat: bool = False, variance: str = "beta",
                 final_sigma: str = "zero", dtype: str | torch.dtype = "fp32", device: str | torch.device | None = None,
                 micro_batch: int = MICRO_BATCH, name: str | None = None, progress: bool = False,
                 prompts_source: dict | None = None) -> None:
        if prompts is None:
            raise GenbenchError("a text-to-image model needs prompts: --prompts FILE (or prompts=[...])")
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise GenbenchError("prompts must be a non-empty list of strings")
        if not guidance >= 0:
            raise GenbenchError(f"guidance must be >= 0, got {guidance}")
        if negative_prompt is not None and not isinstance(negative_prompt, str):
            raise GenbenchError("negative_prompt must be one string (used for every sample)")
        if not isinstance(pipeline, TextToImagePipeline):
            pipeline = TextToImagePipeline.from_folder(pipeline, dtype=dtype, device=device)
        elif device is not None:
            pipeline.to(device)
        self.pipeline, self.prompts, self.negative_prompt = pipeline, prompts, negative_prompt
        self.device = pipeline.device
        self.guidance, self.sampler, self.progress = float(guidance), sampler, progress
        self.micro_batch = check_micro_batch(micro_batch)
        T = pipeline.schedule.T
        self.options = sampler_options(sampler, T, steps=steps, eta=eta, spacing=spacing, sigma_hat=sigma_hat,
                                       variance=variance, final_sigma=final_sigma)
        limit = int(pipeline.tokenizer.model_max_length)
        truncated = count_truncated(pipeline.tokenizer, prompts)
        options = {"sampler": sampler, **self.options, "guidance": self.guidance,
                   "guidance_form": "uncond + w (text - uncond) on the raw U-Net output, batch [uncond; text]",
                   "nfe_per_step": nfe_per_step(self.guidance), "nfe_rule": NFE_RULE,
                   "negative_prompt": negative_prompt or "", "latent_shape": list(pipeline.latent_shape),
                   "scaling_factor": pipeline.scaling_factor, "prediction": pipeline.prediction,
                   "clip_x0": pipeline.clip_sample, "T": T, "micro_batch": self.micro_batch,
                   "text_encoder_passes": "2 rows per sample (prompt, negative prompt)", "decoder_passes": 1,
                   "captions": f"user list of {len(prompts)}, prompt i = prompts[i mod len]",
                   "prompts": prompts_source or {"count": len(prompts)},
                   "prompts_truncated_by_text_encoder": {"count": truncated, "of": len(prompts),
                                                         "max_tokens": limit},
                   "pipeline": pipeline.info}
        self.meta = GeneratorMeta(name or f"diffusers:{pipeline.info.get('path', 'pipeline')}",
                                  nfe=sampler_nfe(sampler, self.options, T) * nfe_per_step(self.guidance),
                                  parameters=pipeline.parameters, resolution=pipeline.resolution,
                                  conditioning="caption", options=options)

    def captions_for(self, start: int, n: int) -> list[str]:
        """The prompts of samples start … start+n−1: prompt i = prompts[i mod len(prompts)]."""
        if start < 0 or n < 0:
            raise ValueError(f"start and n must be >= 0, got start={start}, n={n}")
        return [self.prompts[i % len(self.prompts)] for i in range(start, start + n)]

    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        if n == 0:
            return torch.empty((0, 3, *self.pipeline.resolution), dtype=torch.uint8)
        return sample_aligned(lambda lo: self._sample_block(seed, lo), start, n, self.micro_batch)

    def _sample_block(self, seed: int, lo: int) -> torch.Tensor:
        """Samples lo … lo+m−1 (lo a multiple of m = ``micro_batch``) as uint8 (m, 3, H, W)."""
        m = self.micro_batch
        x = self.pipeline.generate(self.captions_for(lo, m), guidance=self.guidance,
                                   negative_prompt=self.negative_prompt, sampler=self.sampler, options=self.options,
                                   generator=row_generators(seed, lo, m), progress=self.progress)
        return signed_unit_to_uint8(x)
