"""The evidence of reports/beyond/: Vendi, FID∞ and the memorization metrics on shapes-net
features for the bundled generators, a copying generator and held-out data; FID∞ next to FID for
DDIM step counts. Reproduce (the 2-core EPYC: about 25 min, measured while other jobs shared it):

    python reports/beyond/make.py            # writes reports/beyond/results.json and README.md

n = 500, seed 0, reference shapes32:train (bundled statistics, 10,000 feature rows), held-out
shapes32:test. DDPM-1000 is left out: 500 samples × 1000 steps is about 20 min on this box.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from genbench.generators.copying import ShapesCopier
from genbench.generators.sources import load_generator
from genbench.harness.runner import EvalConfig, evaluate
from genbench.io import atomic_write_text

OUT = Path(__file__).parent
N, SEED = 500, 0
MEMORIZATION = ["fid", "vendi", "fid_inf", "authpct", "ct", "mifid"]
MODELS = {
    "vae": ("vae", {}), "gan": ("gan", {}), "ddim-50": ("ddim", {"steps": 50, "eta": 0.0}),
    "ldm": ("ldm", {"steps": 50, "eta": 0.0, "guidance": 3.0}),
}
SWEEP = [10, 20, 50, 100]


def main() -> None:
    cfg = EvalConfig(n=N, seed=SEED, batch_size=250, resamples=50)
    path = OUT / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}  # resume after an interrupt
    jobs = {name: (lambda g=g, o=o: load_generator(g, **o)) for name, (g, o) in MODELS.items()}
    jobs |= {"copy-train-4px": lambda: ShapesCopier("train", 4), "held-out-test": lambda: ShapesCopier("test", 0)}
    jobs |= {f"ddim-{s}-sweep": (lambda s=s: load_generator("ddim", steps=s, eta=0.0)) for s in SWEEP if s != 50}
    for name, make in jobs.items():
        if name in results:
            continue
        metrics = MEMORIZATION if not name.endswith("-sweep") else ["fid", "fid_inf"]
        t0 = time.time()
        record = evaluate(make(), metrics=metrics, config=cfg, progress=False)
        results[name] = {"metrics": record["metrics"], "seconds": round(time.time() - t0, 1),
                         "config": record["provenance"]["config"]}
        atomic_write_text(path, json.dumps(results, indent=1, default=str))
        print(name, {k: round(v["value"], 3) for k, v in record["metrics"].items()}, flush=True, file=sys.stderr)
    write_readme(results)


def _fmt(m: dict | None, digits: int = 2) -> str:
    if not m:
        return "–"
    text = f"{m['value']:.{digits}f}"
    if "ci" in m:
        text += f" [{m['ci'][0]:.{digits}f}, {m['ci'][1]:.{digits}f}]"
    return text


def write_readme(results: dict) -> None:
    lines = ["# Beyond the anchors on shapes32 (shapes-net features)", "",
             f"`python reports/beyond/make.py`: n = {N}, seed {SEED}, reference shapes32:train, held-out "
             "shapes32:test; [95% interval] (half-sampling; FID∞: the fit's ±1.96 standard errors; C_T: none).", "",
             "| samples | FID | FID∞ | Vendi | authentic % | C_T | MiFID |", "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name.endswith("-sweep"):
            continue
        m = r["metrics"]
        lines.append(f"| {name} | {_fmt(m.get('fid'))} | {_fmt(m.get('fid_inf'))} | {_fmt(m.get('vendi'))} | "
                     f"{_fmt(m.get('authpct'), 1)} | {_fmt(m.get('ct'))} | {_fmt(m.get('mifid'), 1)} |")
    lines += ["", "DDIM (η = 0) step count, FID and FID∞ at n = 500:", "", "| steps | FID | FID∞ |", "|---|---|---|"]
    for s in SWEEP:
        r = results.get("ddim-50" if s == 50 else f"ddim-{s}-sweep")
        if r:
            lines.append(f"| {s} | {_fmt(r['metrics'].get('fid'))} | {_fmt(r['metrics'].get('fid_inf'))} |")
    atomic_write_text(OUT / "README.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
