"""The trilemma table: one row per generator, columns grouped as Quality · Diversity / mode coverage ·
Speed, and the trilemma corners each model holds (Xiao et al., ICLR 2022).

Corner rule (relative to the models in the same table, so it holds for any domain). The bars are
set by the unconditional models (``meta.conditioning == "none"``) when the table has any: a
caption- or class-conditioned model is told part of what to draw, so its FID and coverage are not
a bar an unconditional model can be held to; conditioned models are judged against the same bars.

- quality: FID at most ``QUALITY_FID_FACTOR`` × the best FID;
- diversity: coverage (Naeem et al.) at least ``DIVERSITY_FACTOR`` × the best coverage and mode
  coverage at least ``DIVERSITY_FACTOR`` × the best mode coverage (mode coverage only where the
  extractor gives it). Coverage rather than recall: recall rewards outliers (a model whose samples
  are all off the data manifold can reach high recall with precision 0), coverage does not;
- speed: images/s at least ``SPEED_FRACTION`` × the fastest model's: within one order of
  magnitude. Sampling costs come in orders of magnitude (one network call, tens, thousands); on
  the default run one-step generators (a decoder pass included) run at 0.19–1× the fastest and
  10-step samplers at about 0.04×, so the bar sits in the gap between them. Cheap generators are
  timed over enough calls (``genbench.harness.throughput``) that their ratio does not jitter
  across that gap.
"""

from __future__ import annotations

import math

import pandas as pd

from genbench.metrics.registry import table_columns

QUALITY_FID_FACTOR = 2.0
DIVERSITY_FACTOR = 0.9
SPEED_FRACTION = 0.1  # one order of magnitude


def columns(results: dict | None = None) -> list[tuple[str, str, str, str]]:
    """(group, metric key in results, column label, format) of the metric columns, from the metric
    registry (``MetricInfo.group``, ``label``, ``fmt``, ``order``): the default metrics', and the
    opt-in ones (CMMD, memorization, …) that some model of ``results`` has."""
    present = {k for r in (results or {}).get("models", {}).values() for k in r.get("metrics", {})}
    return [(i.group, i.key, i.label, i.fmt) for i in table_columns(present)]


SCALE: dict[str, float] = {}  # display scale per metric (none: KID's size depends on the feature space)
CORNER_RULE = (f"Corners: **quality** = FID ≤ {QUALITY_FID_FACTOR:g}× the best FID; **diversity** = "
               f"coverage ≥ {DIVERSITY_FACTOR:g}× the best coverage and mode coverage ≥ {DIVERSITY_FACTOR:g}× the best; "
               f"**speed** = images/s ≥ {SPEED_FRACTION:.3g}× the fastest (one order of magnitude). The best "
               f"values are those of the unconditional models; conditioned ones (conditioning ≠ none) are judged "
               f"against the same bars. Values are estimates on the run's n "
               f"samples. pair SSIM is the mean SSIM between random pairs of samples (lower = more varied).")
INTERVAL_NOTE = " ± is half the width of the 95% half-sampling interval."


def _value(record: dict, metric: str) -> float:
    m = record.get("metrics", {}).get(metric)
    return float(m["value"]) if m else math.nan


def _fastest(models: dict) -> float:
    """The highest images/s among the models that were timed (stored samples have none)."""
    speeds = [r.get("throughput", {}).get("images_per_s", math.nan) for r in models.values()]
    return max((v for v in speeds if not math.isnan(v)), default=math.nan)


def _bar_setters(models: dict) -> dict:
    """The models whose values set the bars: the unconditional ones, or all when none is."""
    unconditional = {k: r for k, r in models.items() if r.get("meta", {}).get("conditioning", "none") == "none"}
    return unconditional or models


def corners(results: dict) -> dict[str, list[str]]:
    """Model name → the trilemma corners it holds, by the rule in the module docstring."""
    models = results["models"]
    setters = _bar_setters(models)
    best_fid = min((_value(r, "fid") for r in setters.values()), default=math.nan)
    best_coverage = max((_value(r, "coverage") for r in setters.values()), default=math.nan)
    best_modes = max((_value(r, "mode_coverage") for r in setters.values()), default=math.nan)
    fastest = _fastest(models)
    out = {}
    for name, r in models.items():
        held = []
        if _value(r, "fid") <= QUALITY_FID_FACTOR * best_fid:
            held.append("quality")
        modes_ok = math.isnan(best_modes) or _value(r, "mode_coverage") >= DIVERSITY_FACTOR * best_modes
        if _value(r, "coverage") >= DIVERSITY_FACTOR * best_coverage and modes_ok:
            held.append("diversity")
        if r.get("throughput", {}).get("images_per_s", math.nan) >= SPEED_FRACTION * fastest:
            held.append("speed")
        out[name] = held
    return out


def trilemma_frame(results: dict) -> pd.DataFrame:
    """Numbers of the trilemma table: one row per model, columns (group, label) as in ``columns()``
    plus Speed (NFE, images/s, × fastest) and the corners held."""
    held = corners(results)
    fastest = _fastest(results["models"])
    rows = {}
    for name, r in results["models"].items():
        row = {(group, label): _value(r, key) * SCALE.get(key, 1.0) for group, key, label, _ in columns(results)}
        tp = r.get("throughput", {})
        ips = tp.get("images_per_s", math.nan)
        row |= {("Speed", "NFE"): r.get("meta", {}).get("nfe", tp.get("nfe", math.nan)),
                ("Speed", "images/s"): ips, ("Speed", "× fastest"): ips / fastest,
                ("Trilemma", "corners held"): ", ".join(held[name]) or "none"}
        rows[name] = row
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    df.index.name = "model"
    return df


def _cell(results: dict, model: str, key: str, fmt: str) -> str:
    m = results["models"][model]["metrics"].get(key)
    if not m:
        return "–"
    scale = SCALE.get(key, 1.0)
    text = fmt.format(m["value"] * scale)
    ci = m.get("ci")
    if ci and not any(math.isnan(v) for v in ci):
        text += " ±" + fmt.format((ci[1] - ci[0]) / 2 * scale)
    return text


def trilemma_markdown(results: dict) -> str:
    """The table in Markdown: a group header row, a metric header row, one row per model, and the
    corner rule underneath."""
    df = trilemma_frame(results)
    groups = [g for g, _ in df.columns]
    group_row = ["model"] + [g if i == 0 or groups[i - 1] != g else "" for i, g in enumerate(groups)]
    label_row = [""] + [label for _, label in df.columns]
    lines = ["| " + " | ".join(group_row) + " |", "|" + "|".join("---" for _ in group_row) + "|",
             "| " + " | ".join(f"**{c}**" if c else "" for c in label_row) + " |"]
    fmts = {label: (key, fmt) for _, key, label, fmt in columns(results)}
    for model, row in df.iterrows():
        cells = [model]
        for (group, label), value in row.items():
            if label in fmts:
                cells.append(_cell(results, model, *fmts[label]))
            elif label == "NFE":
                cells.append(f"{value:g}" if isinstance(value, (int, float)) else str(value))
            elif label == "images/s":
                cells.append("stored" if math.isnan(value) else f"{value:,.1f}")  # stored samples: no speed
            elif label == "× fastest":
                cells.append("–" if math.isnan(value) else f"{value:.3g}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + CORNER_RULE + INTERVAL_NOTE


def trilemma_text(results: dict) -> str:
    """A plain-text rendering for the terminal (values only; the intervals are in report.md)."""
    df = trilemma_frame(results).copy()
    df.columns = [f"{label}" for _, label in df.columns]
    return (df.to_string(float_format=lambda v: f"{v:.4g}") + "\n\n" + CORNER_RULE.replace("**", "")
            + " The 95% intervals are in report.md and results.json.")
