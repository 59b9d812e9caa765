"""`genbench fid A B` against the command lines of pytorch-fid (``python -m pytorch_fid``) and
torch-fidelity (``fidelity``), each run as a subprocess on the same two folders of PNGs with the same
random FID Inception weights, placed where each tool looks for its download (torch hub's checkpoint
cache under a temporary ``TORCH_HOME``; nothing is downloaded).

The folders hold 12 images a side, so both covariances have rank 11 ≤ 2048 (and about 240 of the
random network's 2048 pool features are dead, so no number of images would make them full rank). On
such matrices both tools take the square roots of all 2048 eigenvalues of the non-symmetric σ1σ2
(pytorch-fid with ``scipy.linalg.sqrtm``, which warns that the matrix is singular; torch-fidelity
with ``np.linalg.eigvals``): the ~2000 that should be 0 come out as round-off (~1e-16), whose square
roots add up to a few 1e-6 in Tr √(σ1σ2), while genbench's trace is exact. Each comparison therefore
also computes the exact FID from the other tool's own outputs (its saved moments or features) with
an independent low-rank formula here: genbench must match that to the product goal of 1e-6 relative,
and what is left between the tools and genbench is the tools' error, which lowers their FID.

Cost on a 2-core CPU: every subprocess imports torch (~5 s); genbench runs the network on whole
micro-batches of 50 images (38 of them padding here); pytorch-fid's ``sqrtm`` of a 2048 × 2048
matrix takes 10–40 s per FID. The two FID comparisons run by default (~1.5 min on an idle box); the
checks that need three more pytorch-fid runs (its moments, a genbench statistics file as its side)
are marked slow (``-m slow``, ~1 min more).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import torch

N = 12  # images per side: Inception runs at 299×299, so every image costs ~0.1 s on a CPU
GOAL = 1e-6  # the product's agreement goal, relative
# the tools' own error on these rank-deficient covariances (measured 3.7e-6 relative for both): they add
# the square roots of the ~2000 round-off eigenvalues of σ1σ2 that should be 0 (pytorch-fid's sqrtm,
# torch-fidelity's eigvals), a few 1e-6 in absolute terms, which overstates Tr √(σ1σ2)
TOOL_REL = 1e-5


def _smooth_images(seed: int) -> np.ndarray:
    """N 32×32 RGB images (N×H×W×C uint8): smooth random fields, a per-image colour cast and fine noise,
    so that the features vary from image to image (the covariance terms of the FID are not negligible)."""
    rng = np.random.default_rng(seed)
    low = torch.from_numpy(rng.standard_normal((N, 3, 4, 4)))
    smooth = torch.nn.functional.interpolate(low, size=(32, 32), mode="bicubic", align_corners=False).numpy()
    pixels = 128 + 60 * smooth + 40 * rng.standard_normal((N, 3, 1, 1)) + 10 * rng.standard_normal((N, 3, 32, 32))
    return np.clip(pixels, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def tools(tmp_path_factory, random_inception_state, image_folder):
    """Folders ``a`` and ``b``; the random weights in both tools' hub caches (the pytorch-fid file is
    also genbench's ``--weights``: torch-fidelity's file has the same state-dict keys and is loaded
    strictly); and the subprocess environment: that TORCH_HOME, a private GENBENCH_HOME, no GPU."""
    import pytorch_fid.inception
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    root = tmp_path_factory.mktemp("fid_cli")
    image_folder(root / "a", _smooth_images(seed=1))
    image_folder(root / "b", _smooth_images(seed=2))
    checkpoints = root / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    files = [checkpoints / Path(urlparse(url).path).name
             for url in (pytorch_fid.inception.FID_WEIGHTS_URL, tfi.URL_INCEPTION_V3)]
    for file in files:
        torch.save(random_inception_state, file)
    env = {**os.environ, "TORCH_HOME": str(root / "torch"), "GENBENCH_HOME": str(root / "genbench_home"),
           "CUDA_VISIBLE_DEVICES": ""}
    return {"root": root, "a": root / "a", "b": root / "b", "weights": files[0], "env": env}


def _run(tools: dict, *argv: str) -> str:
    """stdout of ``python -m argv…`` in the tools' environment; fails with its stderr's tail."""
    proc = subprocess.run([sys.executable, "-m", *argv], env=tools["env"], capture_output=True, text=True, timeout=900,
                          check=False)
    assert proc.returncode == 0, f"{' '.join(argv[:2])} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    assert "Downloading" not in proc.stderr  # the hub cache was used: nothing fetched
    return proc.stdout


def _genbench_fid(tools: dict, resize: str) -> float:
    out = _run(tools, "genbench", "fid", str(tools["a"]), str(tools["b"]), "--resize", resize, "--weights",
               str(tools["weights"]), "--any-weights", "--device", "cpu", "--json", "--quiet")
    return json.loads(out)["fid"]


def _pytorch_fid(tools: dict, a: str, b: str) -> float:
    out = _run(tools, "pytorch_fid", a, b, "--device", "cpu", "--batch-size", str(N), "--num-workers", "0")
    return float(re.search(r"^FID:\s+(\S+)$", out, re.MULTILINE).group(1))


def _moments(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return f["mu"].astype(np.float64), f["sigma"].astype(np.float64)


def _rel(x: float, reference: float) -> float:
    return abs(x - reference) / abs(reference)


def _exact_fid_from_features(f1: np.ndarray, f2: np.ndarray) -> tuple[float, float]:
    """(FID, Tr √(σ1σ2)) in float64 from the rows: with Aᵢ the centred rows / √(nᵢ − 1), σᵢ = AᵢᵀAᵢ
    and Tr √(σ1σ2) is the sum of the singular values of the small A1A2ᵀ."""
    a1, a2 = ((f - f.mean(0)) / np.sqrt(len(f) - 1) for f in (f1.astype(np.float64), f2.astype(np.float64)))
    tr_sqrt = np.linalg.svd(a1 @ a2.T, compute_uv=False).sum()
    diff = f1.mean(0, dtype=np.float64) - f2.mean(0, dtype=np.float64)
    return float(diff @ diff + (a1 * a1).sum() + (a2 * a2).sum() - 2 * tr_sqrt), float(tr_sqrt)


def _exact_fid_from_moments(mu1, sigma1, mu2, sigma2, rank1: int) -> tuple[float, float]:
    """(FID, Tr √(σ1σ2)) in float64 from moments whose σ1 has rank ``rank1``: an orthonormal basis Q
    of σ1's range (σ1 times random vectors), σ1 = F Fᵀ from the small Qᵀσ1Q, Tr √(σ1σ2) = Σ √λ(Fᵀσ2F)."""
    q, _ = np.linalg.qr(sigma1 @ np.random.default_rng(0).standard_normal((len(mu1), rank1 + 10)))
    w, v = np.linalg.eigh(q.T @ sigma1 @ q)
    keep = w > w.max() * 1e-12
    assert keep.sum() == rank1, f"σ1 has rank {keep.sum()}, expected {rank1}"
    factor = q @ v[:, keep] * np.sqrt(w[keep])
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(factor.T @ sigma2 @ factor), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_sqrt), float(tr_sqrt)


@pytest.fixture(scope="module")
def pytorch_fid_stats(tools) -> dict:
    """pytorch-fid's own moments of each folder, from ``--save-stats`` (no FID computed)."""
    for side in ("a", "b"):
        _run(tools, "pytorch_fid", "--save-stats", str(tools[side]), str(tools["root"] / f"pf_{side}.npz"),
             "--device", "cpu", "--batch-size", str(N), "--num-workers", "0")
    return {side: _moments(tools["root"] / f"pf_{side}.npz") for side in ("a", "b")}


@pytest.fixture(scope="module")
def pytorch_fid_folders(tools) -> float:
    """``python -m pytorch_fid a b``: the number it prints, parsed at full precision."""
    return _pytorch_fid(tools, str(tools["a"]), str(tools["b"]))


@pytest.fixture(scope="module")
def genbench_bilinear_fid(tools) -> float:
    """``genbench fid a b --resize bilinear`` (pytorch-fid's preprocessing), full precision from --json."""
    return _genbench_fid(tools, "bilinear")


def test_fid_agrees_with_pytorch_fid_cli(pytorch_fid_folders, genbench_bilinear_fid):
    """genbench (``--resize bilinear``) vs ``python -m pytorch_fid a b``: the gap is pytorch-fid's
    error, so its FID is the lower one (``test_pytorch_fid_gap_is_its_own_error`` shows it)."""
    ours, theirs = genbench_bilinear_fid, pytorch_fid_folders
    print(f"pytorch-fid CLI: genbench {ours!r}, pytorch-fid {theirs!r}, relative {_rel(ours, theirs):.2e}")
    assert ours > 0.5  # not vacuous: the folders differ
    assert ours - TOOL_REL * ours <= theirs < ours


@pytest.mark.slow
def test_pytorch_fid_gap_is_its_own_error(pytorch_fid_folders, pytorch_fid_stats, genbench_bilinear_fid):
    """genbench and ``python -m pytorch_fid a b`` vs the exact FID of pytorch-fid's own moments
    (``--save-stats``): genbench is within the goal, pytorch-fid's sqrtm is the rest."""
    ours, theirs = genbench_bilinear_fid, pytorch_fid_folders
    exact, tr_sqrt = _exact_fid_from_moments(*pytorch_fid_stats["a"], *pytorch_fid_stats["b"], rank1=N - 1)
    print(f"pytorch-fid CLI: genbench {ours!r}, pytorch-fid {theirs!r}, exact {exact!r}; relative: genbench-exact "
          f"{_rel(ours, exact):.2e}, pytorch-fid-exact {_rel(theirs, exact):.2e}")
    assert exact > 0.5 and 2 * tr_sqrt > 0.5 * exact  # not vacuous: the covariance terms weigh in
    assert _rel(ours, exact) <= GOAL  # genbench meets the goal on pytorch-fid's own moments
    assert exact - TOOL_REL * exact <= theirs < exact  # what is left is pytorch-fid's error: Tr √ overstated


@pytest.mark.slow
def test_stats_file_is_a_pytorch_fid_side(tools, pytorch_fid_stats, pytorch_fid_folders, genbench_bilinear_fid):
    """``genbench stats a -o a.npz`` (bilinear): the same moments as pytorch-fid's ``--save-stats`` of
    the folder, and ``python -m pytorch_fid a.npz b`` gives the number of ``genbench fid a b``."""
    out = tools["root"] / "genbench_a.npz"
    printed = _run(tools, "genbench", "stats", str(tools["a"]), "-o", str(out), "--extractor", "inception-v3-fid",
                   "--weights", str(tools["weights"]), "--any-weights", "--resize", "bilinear", "--quiet")
    assert printed.strip() == str(out)
    (mu, sigma), (pf_mu, pf_sigma) = _moments(out), pytorch_fid_stats["a"]
    mu_rel = np.abs(mu - pf_mu).max() / np.abs(pf_mu).max()
    sigma_rel = np.abs(sigma - pf_sigma).max() / np.abs(pf_sigma).max()
    from_file = _pytorch_fid(tools, str(out), str(tools["b"]))
    from_folders = pytorch_fid_folders
    print(f"moments vs pytorch-fid --save-stats: mu {mu_rel:.2e}, sigma {sigma_rel:.2e} (of the largest entry); "
          f"pytorch-fid a.npz b {from_file!r} vs its a b {from_folders!r} ({_rel(from_file, from_folders):.2e}) "
          f"vs genbench fid a b {genbench_bilinear_fid!r} ({_rel(from_file, genbench_bilinear_fid):.2e})")
    assert mu_rel <= GOAL and sigma_rel <= GOAL
    assert _rel(from_file, from_folders) <= GOAL  # pytorch-fid reads genbench's file as its own moments
    assert _rel(from_file, genbench_bilinear_fid) <= TOOL_REL  # less pytorch-fid's sqrtm error (see above)


def test_fid_agrees_with_torch_fidelity_cli(tools):
    """genbench (``--resize tf``) vs ``fidelity --fid``; both vs the exact FID of the features
    torch-fidelity itself extracted (it caches them when the inputs are named)."""
    cache = tools["root"] / "fidelity_cache"
    out = _run(tools, "torch_fidelity.fidelity", "--fid", "--input1", str(tools["a"]), "--input2", str(tools["b"]),
               "--cpu", "--json", "--silent", "--save-cpu-ram", "--cache-root", str(cache),
               "--input1-cache-name", "a", "--input2-cache-name", "b")
    theirs = json.loads(out)["frechet_inception_distance"]
    features = [torch.load(cache / f"{side}-inception-v3-compat-features-2048.pt", weights_only=True).numpy()
                for side in ("a", "b")]
    assert all(f.shape == (N, 2048) for f in features)
    exact, tr_sqrt = _exact_fid_from_features(*features)
    ours = _genbench_fid(tools, "tf")
    print(f"torch-fidelity CLI: genbench {ours!r}, torch-fidelity {theirs!r}, exact {exact!r}; relative: "
          f"genbench-exact {_rel(ours, exact):.2e}, torch-fidelity-exact {_rel(theirs, exact):.2e}, "
          f"genbench-torch-fidelity {_rel(ours, theirs):.2e}")
    assert exact > 0.5 and 2 * tr_sqrt > 0.5 * exact  # not vacuous: the covariance terms weigh in
    assert _rel(ours, exact) <= GOAL  # genbench meets the goal on torch-fidelity's own features
    assert exact - TOOL_REL * exact <= theirs < exact  # what is left is torch-fidelity's error: Tr √ overstated
    assert _rel(ours, theirs) <= TOOL_REL
