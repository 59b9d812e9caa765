"""The FID paper's disturbance experiment on shapes32 (Heusel et al. 2017, Fig. 1).

Test-split images are disturbed at increasing levels (``genbench.data.disturb``) and compared
with the train-split reference statistics: a feature space that behaves makes FID rise
monotonically with the level of every disturbance, and IS fall as noise grows. The clean test
split (level 0) gives the floor. Noise draws come from one seeded generator per
(disturbance, level), consumed batch by batch in index order.
"""

from __future__ import annotations

import pandas as pd
import torch
from tqdm.auto import tqdm

from genbench.data.disturb import DISTURBANCES, LEVELS
from genbench.data.shapes32 import shapes32
from genbench.metrics.frechet import FrechetReference
from genbench.metrics.inception_score import inception_score
from genbench.metrics.stats import FeatureStats
from genbench.reference import load_reference
from genbench.features.registry import get_extractor


def disturbance_study(n: int = 10_000, extractor: str = "shapes-net", seed: int = 0, batch_size: int = 1000,
                      progress: bool = True) -> pd.DataFrame:
    """One row per (disturbance, level) plus the clean floor: columns disturbance, level, n, fid, is_mean, is_std
    (IS from the extractor's classifier; NaN for extractors without one, e.g. shapes-clip)."""
    ext = get_extractor(extractor)
    ref = load_reference("shapes32", "train", extractor, expect=ext.provenance())
    frechet = FrechetReference.from_stats(ref.stats)
    clean = [shapes32("test", s, min(batch_size, n - s)).images for s in range(0, n, batch_size)]
    configs = [("clean", 0.0)] + [(name, lv) for name in DISTURBANCES for lv in LEVELS]
    rows = []
    for k, (name, level) in enumerate(tqdm(configs, desc="disturbances", disable=not progress)):
        gen = torch.Generator().manual_seed(seed * 1000 + k)
        stats = FeatureStats(ext.feature_dim, ext.provenance(), keep_rows=False)
        probs = []
        for images in clean:
            disturbed = images if name == "clean" else DISTURBANCES[name](images, level, gen)
            out = ext.extract(disturbed)
            stats.update(out.features)
            if out.probs is not None:
                probs.append(out.probs)
        is_mean, is_std = inception_score(torch.cat(probs)) if probs else (float("nan"), float("nan"))
        rows.append({"disturbance": name, "level": level, "n": n, "fid": frechet.distance_to_stats(stats),
                     "is_mean": is_mean, "is_std": is_std})
    return pd.DataFrame(rows)


def study_table(df: pd.DataFrame, value: str = "fid") -> pd.DataFrame:
    """Disturbances as rows, levels as columns (the clean floor as level 0 of every row)."""
    floor = df.loc[df.disturbance == "clean", value].item()
    wide = df[df.disturbance != "clean"].pivot(index="disturbance", columns="level", values=value)
    wide.insert(0, 0.0, floor)
    return wide


def study_markdown(df: pd.DataFrame, extractor: str) -> str:
    """The study as text: the FID and IS tables (disturbances × levels) with what they show."""
    from genbench.reports.tables import markdown_table

    n = int(df["n"].iloc[0])
    return (f"FID against shapes32 train statistics ({extractor}), test split, n = {n} per cell; "
            f"columns are disturbance levels (0 = clean)\n\n{markdown_table(study_table(df, 'fid'), '.2f')}\n\n"
            f"Inception Score ({extractor} classifier, 10 splits; nan without one)\n\n"
            f"{markdown_table(study_table(df, 'is_mean'), '.3f')}\n")
