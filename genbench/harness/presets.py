"""Suites: which generators, with which options, evaluated on how many samples (``Suite``).

A suite is a TOML file read by ``load_suite`` (``genbench run --config``); the bundled presets are
suite files too (``genbench/presets/<name>.toml``, ``get_preset``). ``genbench eval`` and
``baseline`` evaluate one-model suites built from their command line.

Every model in a preset is evaluated on the same number of samples ``n``, because FID and the
k-NN metrics are biased by n: numbers taken at different n are not comparable (KID is
unbiased, FID is not). The cost is set by the slowest model, DDPM with 1000 network
evaluations per sample. Budgets, on the slowest machine this project runs on (2-core AMD EPYC,
AVX2 only; measured times in the README):

- ``smoke``: a pipeline check within 2 minutes after the install; the numbers are too noisy to compare.
- ``default``: the README's first command, within 10 minutes including the install.
- ``large`` / ``paper``: for GPUs (10,000 and 50,000 samples per model, micro-batches of 500 and 1000).

``micro_batch`` is part of each preset because it is part of what a sample is
(``genbench.microbatch``): the same preset asks for the same computation wherever it runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genbench.harness.runner import EvalConfig


@dataclass(frozen=True)
class ModelSpec:
    """One row of the comparison: ``label`` in the tables, ``generator`` (anything ``genbench eval``
    takes: a bundled name, ``module:callable``, a folder, an .npz, ``diffusers:PATH``, a plug-in),
    its options, and optionally its NFE per sample and parameter count (for callables, which
    cannot say)."""

    label: str
    generator: str
    options: dict[str, Any] = field(default_factory=dict)
    nfe: int | None = None
    parameters: int | None = None


@dataclass(frozen=True)
class Suite:
    """``n`` samples per model (seed ``seed``), evaluation batch size, half-sampling resamples for the
    95% intervals, the models, and ``micro_batch``: the samples per network call of every bundled
    generator (``genbench.microbatch``; part of what a sample is, so fixed per suite).
    ``evaluation``: further ``EvalConfig`` fields (e.g. ``clip_model``, ``heldout``)."""

    name: str
    n: int
    batch_size: int
    resamples: int
    models: tuple[ModelSpec, ...]
    seed: int = 0
    micro_batch: int = 50
    description: str = ""
    reference: str = "shapes32:train"  # anything --ref takes
    extractor: str | None = None  # None: the reference's
    metrics: tuple[str, ...] | None = None  # None: all that apply
    evaluation: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def eval_config(self) -> EvalConfig:
        """The ``EvalConfig`` every model of the suite is evaluated with."""
        from genbench.harness.runner import EvalConfig

        return EvalConfig(n=self.n, seed=self.seed, batch_size=self.batch_size, reference=self.reference,
                          extractor=self.extractor, metrics=self.metrics, resamples=self.resamples,
                          **self.evaluation)

    def with_models(self, labels: list[str]) -> Suite:
        """The preset restricted to the models labelled ``labels`` (in that order)."""
        by_label = {m.label: m for m in self.models}
        unknown = [label for label in labels if label not in by_label]
        if unknown:
            raise ValueError(f"preset {self.name!r} has no model {', '.join(unknown)}; it has {', '.join(by_label)}")
        return replace(self, models=tuple(by_label[label] for label in labels))


SUITE_KEYS = {"name", "n", "seed", "batch_size", "resamples", "micro_batch", "reference", "extractor", "metrics",
              "description", "models"}
MODEL_KEYS = {"label", "generator", "options", "nfe", "parameters"}


def load_suite(path: str | Path) -> Suite:
    """A suite from a TOML file (standard library ``tomllib``): ``n`` (required), ``seed``,
    ``batch_size``, ``resamples``, ``micro_batch``, ``reference``, ``extractor``, ``metrics``, and
    ``[[models]]`` tables with ``label``, ``generator``, optional ``options``, ``nfe``, ``parameters``.
    Unknown keys, missing keys and repeated labels are one-line errors."""
    import tomllib

    from genbench.errors import GenbenchError

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GenbenchError(f"cannot read suite {path}: {exc}") from exc
    unknown = set(data) - SUITE_KEYS
    if unknown or "n" not in data or not data.get("models"):
        raise GenbenchError(f"suite {path}: " + (f"unknown keys {sorted(unknown)} (known: {sorted(SUITE_KEYS)})"
                                                  if unknown else "needs n and at least one [[models]] table"))
    models = []
    for i, m in enumerate(data["models"]):
        if not isinstance(m, dict) or set(m) - MODEL_KEYS or not {"label", "generator"} <= set(m):
            raise GenbenchError(f"suite {path}: model {i + 1} needs label and generator (and may have "
                                f"options, nfe, parameters), got {sorted(m) if isinstance(m, dict) else m!r}")
        models.append(ModelSpec(str(m["label"]), str(m["generator"]), dict(m.get("options", {})), m.get("nfe"),
                                m.get("parameters")))
    labels = [m.label for m in models]
    if len(set(labels)) != len(labels):
        raise GenbenchError(f"suite {path}: labels repeat: {labels}")
    n = int(data["n"])
    metrics = data.get("metrics")
    return Suite(name=str(data.get("name", path.stem)), n=n, batch_size=int(data.get("batch_size", min(n, 50))),
                  resamples=int(data.get("resamples", 50)), models=tuple(models), seed=int(data.get("seed", 0)),
                  micro_batch=int(data.get("micro_batch", 50)), description=str(data.get("description", "")),
                  reference=str(data.get("reference", "shapes32:train")), extractor=data.get("extractor"),
                  metrics=None if metrics is None else tuple(metrics))


PRESET_NAMES = ("smoke", "default", "large", "paper")


def preset_path(name: str) -> Path:
    """The suite file of bundled preset ``name`` (``genbench/presets/<name>.toml``, package data)."""
    return Path(__file__).resolve().parent.parent / "presets" / f"{name}.toml"


def get_preset(name: str) -> Suite:
    """The bundled preset called ``name``: a suite file like any user's (``load_suite``)."""
    if name not in PRESET_NAMES:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESET_NAMES)}")
    return load_suite(preset_path(name))

