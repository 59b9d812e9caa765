"""A ``Denoiser``: a network plus its discrete noise schedule and prediction type (k-diffusion's idea).

Samplers never see the raw network output: they ask a Denoiser for ε̂ and x̂0 at a timestep and
stay the same for every parameterisation. Conventions (as in ``genbench.diffusion.schedule``):
timesteps t are integers in [0, T − 1], t = 0 the least noisy; ᾱ_t = Π_{s ≤ t} (1 − β_s) and
x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε. The network is called as ``net(x_t, t)`` with t a (n,) long tensor
(with a class-conditional network, ``net(x_t, t, class_labels)``); its output means

- ``"epsilon"``: ε̂;  x̂0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t
- ``"v_prediction"``: v̂ = √ᾱ_t ε − √(1−ᾱ_t) x0 (Salimans & Ho 2022);
  x̂0 = √ᾱ_t x_t − √(1−ᾱ_t) v̂, ε̂ = √ᾱ_t v̂ + √(1−ᾱ_t) x_t
- ``"sample"``: x̂0;  ε̂ = (x_t − √ᾱ_t x̂0)/√(1−ᾱ_t)

Clipping: with ``clip_sample = c`` (pixel-space models, data in [−1, 1]) x̂0 is clamped to
[−c, c] and ε̂ is re-derived from the clamped x̂0 (improved-diffusion; diffusers'
``use_clipped_model_output=True``), for every sampler. ``None`` for latents or unclipped sampling.

β schedules (``diffusers_betas``) are computed as diffusers' ``DDPMScheduler`` computes them,
float32 values included, then held in float64 (``DiffusionSchedule``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from genbench.diffusion.schedule import DiffusionSchedule

PREDICTIONS = ("epsilon", "v_prediction", "sample")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
DIFFUSERS_HINT = "pip install genbench[diffusers]"
# scheduler classes whose clip_sample defaults to True in diffusers; others have no clip_sample
_CLIPPING_SCHEDULERS = ("DDPMScheduler", "DDIMScheduler")


def betas_for_alpha_bar(T: int, max_beta: float = 0.999) -> torch.Tensor:
    """The cosine schedule of Nichol & Dhariwal 2021 as diffusers discretises it
    (``squaredcos_cap_v2``): β_i = min(1 − ᾱ((i+1)/T)/ᾱ(i/T), max_beta) with
    ᾱ(s) = cos²((s + 0.008)/1.008 · π/2), computed in float64 and rounded to float32, (T,)."""
    def alpha_bar(s: float) -> float:
        return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2

    return torch.tensor([min(1 - alpha_bar((i + 1) / T) / alpha_bar(i / T), max_beta) for i in range(T)],
                        dtype=torch.float32)


def diffusers_betas(beta_schedule: str = "linear", T: int = 1000, beta_start: float = 1e-4,
                    beta_end: float = 0.02) -> torch.Tensor:
    """β_0 … β_{T−1} as diffusers' ``DDPMScheduler`` computes them, (T,) float32 (bit-equal to its
    ``betas``): "linear" = linspace(beta_start, beta_end, T); "scaled_linear" (Stable Diffusion)
    = linspace(√beta_start, √beta_end, T)²; "squaredcos_cap_v2" = ``betas_for_alpha_bar``
    (beta_start and beta_end unused)."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if beta_schedule == "linear":
        return torch.linspace(beta_start, beta_end, T, dtype=torch.float32)
    if beta_schedule == "scaled_linear":
        return torch.linspace(beta_start ** 0.5, beta_end ** 0.5, T, dtype=torch.float32) ** 2
    if beta_schedule == "squaredcos_cap_v2":
        return betas_for_alpha_bar(T)
    raise ValueError(f"unknown beta_schedule {beta_schedule!r}; allowed: {', '.join(BETA_SCHEDULES)}")


@dataclasses.dataclass(frozen=True, eq=False)
class Denoiser:
    """A network with its schedule: what every sampler in ``genbench.diffusion`` drives.

    net: ``net(x_t, t) -> output`` (t: (n,) long timesteps), or ``net(x_t, t, class_labels)``
    when ``num_classes`` is set (class_labels: (n,) long in [0, num_classes)); the output has
    x_t's shape and means ``prediction`` (see the module docstring).
    schedule: the discrete schedule the network was trained with (a ``DiffusionSchedule``; the
    constructor also takes its betas as a (T,) tensor).
    clip_sample: clamp x̂0 to [−c, c] (None: never).
    num_classes: number of classes of a class-conditional network, else None. A conditional
    Denoiser must be ``bind``-ed to labels before sampling.
    sample_shape: (C, H, W) of one sample when known (from a model config), else None.
    module: the ``nn.Module`` holding the weights (moved to a device and counted by generators), or None.
    info: provenance (source, paths, scheduler settings) for generator metadata.
    """

    net: Callable[..., torch.Tensor]
    schedule: DiffusionSchedule | torch.Tensor
    prediction: str = "epsilon"
    clip_sample: float | None = None
    num_classes: int | None = None
    sample_shape: tuple[int, int, int] | None = None
    module: nn.Module | None = None
    info: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {self.prediction!r}; allowed: {', '.join(PREDICTIONS)}")
        if self.clip_sample is not None and not self.clip_sample > 0:
            raise ValueError(f"clip_sample must be positive or None, got {self.clip_sample}")
        if self.num_classes is not None and self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1 or None, got {self.num_classes}")
        if not isinstance(self.schedule, DiffusionSchedule):
            object.__setattr__(self, "schedule", DiffusionSchedule(torch.as_tensor(self.schedule)))
        if self.module is None and isinstance(self.net, nn.Module):
            object.__setattr__(self, "module", self.net)
        if self.sample_shape is not None:
            object.__setattr__(self, "sample_shape", tuple(int(s) for s in self.sample_shape))
        object.__setattr__(self, "_alpha_bars", self.schedule.alphas_cumprod.tolist())

    @property
    def T(self) -> int:
        """Number of training timesteps."""
        return self.schedule.T

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t (float64 as a Python float) for an integer timestep t in [0, T − 1]."""
        return self._alpha_bars[t]

    def replace(self, **changes: Any) -> Denoiser:
        """A copy with fields replaced, e.g. ``denoiser.replace(clip_sample=None)``."""
        return dataclasses.replace(self, **changes)

    def bind(self, class_labels: torch.Tensor) -> Denoiser:
        """An unconditional view of a class-conditional Denoiser: every call passes ``class_labels``
        ((n,) long, one per row of the batches it will see) to the network."""
        if self.num_classes is None:
            raise ValueError("bind() needs a class-conditional Denoiser (num_classes is None)")
        labels = torch.as_tensor(class_labels, dtype=torch.long)
        if labels.ndim != 1 or bool(((labels < 0) | (labels >= self.num_classes)).any()):
            raise ValueError(f"class_labels must be a 1-D tensor of ints in [0, {self.num_classes})")
        net = self.net
        return self.replace(net=lambda x, t: net(x, t, labels.to(x.device)), num_classes=None)

    def model_output(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """The raw network output at x_t for one integer timestep t shared by all rows."""
        if self.num_classes is not None:
            raise ValueError("this Denoiser is class-conditional: bind(class_labels) it before sampling")
        return self.net(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))

    def predict(self, x: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(ε̂, x̂0) at x_t for integer timestep t: one network call, the prediction converted, x̂0
        clamped to [−clip_sample, clip_sample] and ε̂ re-derived from it when clipping is on."""
        out, a = self.model_output(x, t), self._alpha_bars[t]
        if self.prediction == "epsilon":
            eps, x0 = out, (x - math.sqrt(1 - a) * out) / math.sqrt(a)
        elif self.prediction == "v_prediction":
            eps, x0 = math.sqrt(a) * out + math.sqrt(1 - a) * x, math.sqrt(a) * x - math.sqrt(1 - a) * out
        else:
            eps, x0 = (x - math.sqrt(a) * out) / math.sqrt(1 - a), out
        if self.clip_sample is not None:
            x0 = x0.clamp(-self.clip_sample, self.clip_sample)
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        return eps, x0

    @classmethod
    def from_callable(cls, fn: Callable[..., torch.Tensor], beta_schedule: str = "linear", T: int = 1000,
                      beta_start: float = 1e-4, beta_end: float = 0.02, prediction: str = "epsilon",
                      clip_sample: float | None = None, num_classes: int | None = None,
                      sample_shape: Sequence[int] | None = None) -> Denoiser:
        """A Denoiser over ``fn`` with a named diffusers β schedule (``diffusers_betas``)."""
        betas = diffusers_betas(beta_schedule, T, beta_start, beta_end)
        info = {"source": "callable", "beta_schedule": beta_schedule, "T": T}
        if beta_schedule != "squaredcos_cap_v2":
            info |= {"beta_start": beta_start, "beta_end": beta_end}
        return cls(fn, betas, prediction, clip_sample, num_classes, sample_shape, info=info)

    @classmethod
    def from_diffusers(cls, path: str | Path, scheduler_config: str | Path | dict | None = None,
                       dtype: torch.dtype = torch.float32) -> Denoiser:
        """A diffusers ``UNet2DModel`` saved with ``save_pretrained`` and its scheduler's settings.

        Layouts of ``path`` (a local folder; nothing is downloaded):
        - a pipeline folder: ``unet/`` (config.json + diffusion_pytorch_model.safetensors) and
          ``scheduler/scheduler_config.json``;
        - a unet folder: config.json + weights, with ``scheduler_config.json`` in the same folder.
        ``scheduler_config`` (a file or a dict) overrides where the scheduler settings come from.

        Read from the scheduler config (diffusers' defaults where a key is absent):
        num_train_timesteps, beta_schedule, beta_start, beta_end or trained_betas, prediction_type,
        clip_sample (+ clip_sample_range); its timestep_spacing and steps_offset are not used (the
        sampler's spacing is a sampler option). Only safetensors weights are loaded (pickled ``.bin``
        files are refused). Class-conditional UNets (``num_class_embeds``) give ``num_classes``;
        ``sample_shape`` is (in_channels, *sample_size). A learned-variance UNet (out_channels =
        2 in_channels) has its variance half dropped: the samplers use fixed variances.
        """
        try:
            from diffusers import UNet2DModel
        except ImportError as exc:
            raise ImportError(f"Denoiser.from_diffusers needs the diffusers package: {DIFFUSERS_HINT}") from exc
        unet_dir, sched = _diffusers_layout(Path(path), scheduler_config)
        weights = sorted(unet_dir.glob("*.safetensors"))
        if not weights:
            pickled = sorted(p.name for p in unet_dir.glob("*.bin"))
            raise ValueError(f"no .safetensors weights in {unet_dir}" + (
                f"; refusing pickled weights {pickled} (convert them with save_pretrained(safe_serialization=True))"
                if pickled else ""))
        unet_config = json.loads((unet_dir / "config.json").read_text())
        class_name = unet_config.get("_class_name", "UNet2DModel")
        if class_name != "UNet2DModel":
            raise ValueError(f"{unet_dir} holds a {class_name}; Denoiser.from_diffusers loads UNet2DModel folders")
        if unet_config.get("class_embed_type") is not None:
            raise ValueError(f"{unet_dir}: class_embed_type={unet_config['class_embed_type']!r} is not supported "
                             "(class-conditional UNets with num_class_embeds are)")
        betas, prediction, clip, settings = _scheduler_settings(sched)
        unet = UNet2DModel.from_pretrained(unet_dir, use_safetensors=True, local_files_only=True, torch_dtype=dtype,
                                           low_cpu_mem_usage=False)
        unet = unet.eval().requires_grad_(False)
        channels = unet.config.in_channels
        size = unet.config.sample_size
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        num_classes = unet.config.num_class_embeds
        learned_variance = unet.config.out_channels == 2 * channels

        def net(x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
            out = unet(x, t, class_labels=class_labels).sample
            return out[:, :channels] if learned_variance else out

        info = {"source": "diffusers", "path": str(Path(path)), "unet": str(unet_dir),
                "weights_sha256": {p.name: _sha256(p) for p in weights}, **settings}
        return cls(net, betas, prediction, clip, num_classes, (channels, height, width), unet, info)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _diffusers_layout(path: Path, scheduler_config: str | Path | dict | None) -> tuple[Path, dict[str, Any]]:
    """(unet folder, scheduler config dict) for the layouts ``Denoiser.from_diffusers`` accepts."""
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder (Denoiser.from_diffusers reads local save_pretrained folders)")
    if (path / "unet" / "config.json").is_file():
        unet_dir, sched_file = path / "unet", path / "scheduler" / "scheduler_config.json"
    elif (path / "config.json").is_file():
        unet_dir, sched_file = path, path / "scheduler_config.json"
    else:
        raise FileNotFoundError(f"{path} has neither unet/config.json (a pipeline folder) nor config.json (a unet folder)")
    if isinstance(scheduler_config, dict):
        return unet_dir, scheduler_config
    if scheduler_config is not None:
        sched_file = Path(scheduler_config)
    if not sched_file.is_file():
        raise FileNotFoundError(f"no scheduler config at {sched_file}: a pipeline folder needs scheduler/"
                                "scheduler_config.json, a unet folder a scheduler_config.json beside config.json")
    return unet_dir, json.loads(sched_file.read_text())


def _scheduler_settings(cfg: dict[str, Any]) -> tuple[torch.Tensor, str, float | None, dict[str, Any]]:
    """(betas, prediction, clip_sample or None, settings for metadata) from a diffusers scheduler config."""
    for key in ("rescale_betas_zero_snr", "thresholding"):
        if cfg.get(key):
            raise ValueError(f"scheduler config sets {key}=true, which genbench's samplers do not implement")
    T = int(cfg.get("num_train_timesteps", 1000))
    schedule = cfg.get("beta_schedule", "linear")
    if cfg.get("trained_betas") is not None:
        betas, schedule = torch.tensor(cfg["trained_betas"], dtype=torch.float32), "trained_betas"
    else:
        betas = diffusers_betas(schedule, T, float(cfg.get("beta_start", 1e-4)), float(cfg.get("beta_end", 0.02)))
    prediction = cfg.get("prediction_type", "epsilon")
    clips = cfg.get("clip_sample", cfg.get("_class_name", "DDPMScheduler") in _CLIPPING_SCHEDULERS)
    clip = float(cfg.get("clip_sample_range", 1.0)) if clips else None
    settings = {"scheduler": cfg.get("_class_name"), "beta_schedule": schedule, "T": len(betas),
                "prediction": prediction, "clip_sample": clip}
    if schedule in ("linear", "scaled_linear"):
        settings |= {"beta_start": cfg.get("beta_start", 1e-4), "beta_end": cfg.get("beta_end", 0.02)}
    return betas, prediction, clip, settings
