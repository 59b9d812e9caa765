"""report.md of a suite run: the trilemma table and plot, the ranking by FID, sample grids, every
metric with its interval, and how the numbers were obtained (rendered from the results record)."""

from __future__ import annotations

from genbench.reports.results import render
from genbench.reports.trilemma import trilemma_markdown


def _ranking_section(results: dict) -> list[str]:
    """report.md's leaderboard by FID (the rank rule of ``genbench compare`` under it); none without FID."""
    from genbench.reports.leaderboard import render_board

    if not any("fid" in r.get("metrics", {}) for r in results["models"].values()):
        return []
    return ["## Ranking by FID", "", render_board(results["models"], "fid", "md"), ""]


def report_markdown(results: dict) -> str:
    """report.md: the trilemma table and plot, the ranking by FID, sample grids, every metric with its
    interval, provenance."""
    prov = results["provenance"]
    preset = prov.get("preset", {})
    cfg = prov.get("config", {})
    lines = [f"# genbench — suite `{preset.get('name', '?')}`", "",
             f"{cfg.get('n')} samples per model (seed {cfg.get('seed')}), features `{prov.get('extractor', cfg.get('extractor'))}` "
             f"(weights sha256 `{str(prov.get('weights_sha256', '?'))[:16]}…`) against the reference "
             f"`{prov.get('reference', {}).get('source', cfg.get('reference'))}`; 95% half-sampling intervals from "
             f"{cfg.get('resamples')} "
             f"resamples; device `{prov.get('device')}`; genbench {prov.get('genbench_version')}, torch "
             f"{prov.get('torch_version')}; wall time {prov.get('wall_seconds')} s.", "",
             f"Command: `{prov.get('command', '')}`", "", "## Trilemma", "", trilemma_markdown(results), "",
             "![trilemma](trilemma.png)", "", *_ranking_section(results), "## Samples (first 64 of each model)", ""]
    for name, r in results["models"].items():
        if "samples_grid" in r:
            lines += [f"**{name}** ({r['meta'].get('nfe')} NFE)", "", f"![{name}]({r['samples_grid']})", ""]
            if "samples_prompts" in r:
                lines += [f"Prompts, row by row: [{r['samples_prompts']}]({r['samples_prompts']})", ""]
    for name, reason in results.get("skipped", {}).items():
        lines += [f"**{name}**: skipped — {reason}", ""]
    lines += ["## Every metric", "", render(results, "md"), ""]
    return "\n".join(lines)
