"""Weights and clean-fid statistics fetched on first use, from an HTTP server on 127.0.0.1.

The real loading code runs against ``http.server`` on an ephemeral loopback port (stopped by the
fixture), which counts requests and can cut a transfer short. Transport is tested on small files;
the ~95 MB random FID Inception file is served once, to follow the extractor from a lazy start to a
loaded network. The test session is offline (conftest); these tests switch it on for themselves.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genbench.cli import main
from genbench.features.weights import (
    WeightsError,
    WeightsSpec,
    WeightsWarning,
    resolve_weights,
    torch_hub_checkpoints,
    weights_dir,
)
from genbench.fetch import offline


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10  # seconds a connection may stall

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        server = self.server
        server.requests.append(self.path)
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in server.cut:  # half the bytes promised, then the connection closes
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class Served:
    """The files a loopback server serves (``add``), its ``url``s and the ``requests`` it got."""

    def __init__(self, server: http.server.ThreadingHTTPServer) -> None:
        self.server = server
        server.files, server.cut, server.requests = {}, set(), []

    def add(self, path: str, body: bytes, cut: bool = False) -> str:
        self.server.files[path] = body
        if cut:
            self.server.cut.add(path)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    @property
    def requests(self) -> list[str]:
        return self.server.requests


@pytest.fixture
def served():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Served(server)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def online(tmp_path, monkeypatch):
    """Fetching allowed, with an empty GENBENCH_HOME and TORCH_HOME, and no proxy between us and 127.0.0.1."""
    monkeypatch.delenv("GENBENCH_OFFLINE", raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path


def _blob(n: int = 300_000, seed: int = 0) -> tuple[bytes, str]:
    body = np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
    return body, hashlib.sha256(body).hexdigest()


def _files(folder: Path) -> list[str]:
    """Every entry of ``folder`` (temporary dot-files included); [] when it does not exist."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- transport, on a small file -----------------------------------------------------------------------

def test_first_use_fetches_and_verifies_then_stays_local(online, served):
    body, digest = _blob()
    spec = WeightsSpec("tiny-weights.bin", digest, served.add("/tiny-weights.bin", body))
    path, got = resolve_weights(spec)
    assert path == weights_dir() / "tiny-weights.bin" and path.read_bytes() == body and got == digest
    assert served.requests == ["/tiny-weights.bin"] and _files(weights_dir()) == ["tiny-weights.bin"]
    assert resolve_weights(spec) == (path, digest) and len(served.requests) == 1  # second use: no network
    # a torch.hub-style digest prefix is the publisher's digest too
    prefixed = WeightsSpec("tiny-weights-" + digest[:8] + ".bin", digest[:8], served.url("/tiny-weights.bin"))
    assert resolve_weights(prefixed)[1] == digest and len(served.requests) == 2


def test_wrong_digest_is_refused_and_leaves_no_file(online, served):
    body, digest = _blob()
    spec = WeightsSpec("tiny-weights.bin", "0" * 64, served.add("/tiny-weights.bin", body))
    with pytest.raises(WeightsError, match=f"not the expected weights file: sha256 {digest}") as err:
        resolve_weights(spec)
    assert "\n" not in str(err.value) and _files(weights_dir()) == []


def test_cut_short_transfer_leaves_no_file(online, served):
    body, _ = _blob()
    spec = WeightsSpec("tiny-weights.bin", None, served.add("/tiny-weights.bin", body, cut=True))  # no digest to help
    with pytest.raises(WeightsError, match="cut short") as err:
        resolve_weights(spec)
    assert "\n" not in str(err.value) and _files(weights_dir()) == []


def test_offline_refuses_in_one_line(online, served, monkeypatch):
    body, digest = _blob()
    spec = WeightsSpec("tiny-weights.bin", digest, served.add("/tiny-weights.bin", body))
    with offline(), pytest.raises(WeightsError) as err:
        resolve_weights(spec)
    message = str(err.value)
    assert "\n" not in message and "tiny-weights.bin not found" in message and "--offline" in message
    assert str(weights_dir() / "tiny-weights.bin") in message
    monkeypatch.setenv("GENBENCH_OFFLINE", "1")
    with pytest.raises(WeightsError, match="offline \\(GENBENCH_OFFLINE=1\\)"):
        resolve_weights(spec)
    with pytest.raises(WeightsError, match="download=False"):
        monkeypatch.delenv("GENBENCH_OFFLINE")
        resolve_weights(spec, download=False)
    assert served.requests == [] and _files(weights_dir()) == []


def test_copy_in_torch_hub_checkpoints_is_used_without_a_download(online, served):
    body, digest = _blob()
    spec = WeightsSpec("tiny-weights.bin", digest, served.add("/tiny-weights.bin", body),
                       hub_names=("tiny-weights-other-name.bin",))
    hub = torch_hub_checkpoints()
    assert hub == online / "torch" / "hub" / "checkpoints"  # $TORCH_HOME/hub/checkpoints, as torch.hub
    hub.mkdir(parents=True)
    (hub / "tiny-weights-other-name.bin").write_bytes(body)
    assert resolve_weights(spec) == (hub / "tiny-weights-other-name.bin", digest)
    assert served.requests == [] and _files(weights_dir()) == []
    # a copy there that is not the expected file is skipped, with a warning, and the file fetched
    (hub / "tiny-weights-other-name.bin").write_bytes(body[:-1])
    with pytest.warns(WeightsWarning, match="ignoring .*tiny-weights-other-name.bin"):
        assert resolve_weights(spec) == (weights_dir() / "tiny-weights.bin", digest)
    assert served.requests == ["/tiny-weights.bin"]


# -- the FID Inception: lazy, fetched, found in torch.hub's folder ------------------------------------

def test_inception_weights_on_first_use(online, served, random_inception_state, monkeypatch):
    import genbench.features.inception as inception

    buffer = io.BytesIO()
    torch.save(random_inception_state, buffer)
    body = buffer.getvalue()
    digest = hashlib.sha256(body).hexdigest()
    spec = dataclasses.replace(inception.WEIGHTS, url=served.add("/pt_inception.pth", body), sha256=digest)
    monkeypatch.setattr(inception, "WEIGHTS", spec)

    ext = inception.InceptionV3FID(device="cpu", expected_sha256=digest)
    assert ext.provenance()["weights_sha256"] == digest and served.requests == []  # named, not fetched
    state = ext.model.state_dict()  # the first need: fetched, checked, loaded
    assert served.requests == ["/pt_inception.pth"] and _files(weights_dir()) == [spec.filename]
    assert all(torch.equal(state[k], v) for k, v in random_inception_state.items())
    second = inception.InceptionV3FID(device="cpu", expected_sha256=digest)._weights.resolve()
    assert second == (weights_dir() / spec.filename, digest) and len(served.requests) == 1  # read from the cache

    # torch-fidelity's download in $TORCH_HOME/hub/checkpoints is the same file: used as it is
    monkeypatch.setenv("GENBENCH_HOME", str(online / "other_home"))
    hub = torch_hub_checkpoints()
    hub.mkdir(parents=True)
    (hub / "weights-inception-2015-12-05-6726825d.pth").write_bytes(body)
    with offline():
        found = inception.InceptionV3FID(device="cpu", expected_sha256=digest)._weights.resolve()
    assert found == (hub / "weights-inception-2015-12-05-6726825d.pth", digest)
    assert len(served.requests) == 1 and _files(weights_dir()) == []


def test_cli_offline_flag_refuses_in_one_line(online, served, monkeypatch, capsys, image_folder):
    import genbench.features.inception as inception

    monkeypatch.setattr(inception, "WEIGHTS", dataclasses.replace(inception.WEIGHTS, url=served.url("/w.pth")))
    a, b = (image_folder(online / name, [np.full((8, 8, 3), 40 * i, np.uint8) for i in range(2)], pad=1)
            for name in "ab")
    code = main(["--offline", "fid", str(a), str(b), "--quiet", "--workers", "0", "--no-cache"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and served.requests == []
    assert err.count("\n") == 0 and err.startswith("genbench: error: weights file pt_inception-2015-12-05-6726825d.pth "
                                                   "not found. Put it at ")
    assert str(online / "home" / "weights" / inception.WEIGHTS.filename) in err and "(--offline)" in err
    assert main(["fid", str(a), str(b), "--offline", "--quiet", "--workers", "0", "--no-cache"]) == 2  # after it too
    assert served.requests == []


# -- open_clip tags and CMMD's CLIP: the Hugging Face cache -------------------------------------------

def _plant_hf_file(cache: Path, repo: str, filename: str, body: bytes) -> Path:
    """A file in the Hugging Face cache layout (refs/main → snapshots/<commit>/<filename>)."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    path = folder / "snapshots" / commit / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # open_clip's own loader reads the cache only
    return cache


def test_cmmd_clip_found_in_the_hugging_face_cache(hf_cache, tmp_path, monkeypatch):
    from genbench.features.clip import hf_files, pretrained_tag
    from genbench.features.clip_cmmd import PRETRAINED_TAG, WEIGHTS

    monkeypatch.setenv("GENBENCH_HOME", str(tmp_path / "home"))
    files = hf_files(pretrained_tag(*PRETRAINED_TAG))
    assert files == ("timm/vit_large_patch14_clip_336.openai", "open_clip_model.safetensors",
                     "open_clip_pytorch_model.bin")  # what open_clip's 'openai' tag of ViT-L-14-336 loads, in its order
    spec = dataclasses.replace(WEIGHTS, hf_files=files)
    with pytest.raises(WeightsError, match="clip-vit-l14-336.safetensors not found.*huggingface.co"):
        resolve_weights(spec)  # offline, and nothing in the cache
    body, digest = _blob()
    bin_path = _plant_hf_file(hf_cache, files[0], files[2], body)
    assert resolve_weights(spec) == (bin_path, digest)
    st_path = _plant_hf_file(hf_cache, files[0], files[1], body[::-1])  # the safetensors file comes first
    assert resolve_weights(spec)[0] == st_path


def test_open_clip_tag_is_loaded_as_open_clip_loads_it(hf_cache, tmp_path, monkeypatch):
    """A pretrained tag (registered here for a tiny architecture, with SigLIP's preprocessing) from the
    Hugging Face cache: the same network and preprocessing as open_clip's ``pretrained=tag``."""
    import open_clip
    from open_clip import pretrained
    from safetensors.torch import save_file

    from genbench.features.clip import ClipExtractor, _describe_transform

    arch = "genbench-test-tagged-clip"
    config = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8,
                                              "head_width": 16},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (tmp_path / f"{arch}.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / f"{arch}.json")
    monkeypatch.setitem(pretrained._PRETRAINED, arch, {"tagx": pretrained._slpcfg(hf_hub="genbench-test/tagged/")})
    monkeypatch.setenv("GENBENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(WeightsError, match="not found.*offline"):
        ClipExtractor(f"{arch}:tagx", device="cpu")
    torch.manual_seed(0)
    model = open_clip.create_model(arch)
    buffer = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(buffer))
    _plant_hf_file(hf_cache, "genbench-test/tagged", "open_clip_model.safetensors", buffer.read_bytes())

    ours = ClipExtractor(f"{arch}:tagx", device="cpu")
    theirs, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained="tagx")
    assert ours.name == f"clip:{arch}:tagx" and ours.weights_sha256 == hashlib.sha256(buffer.read_bytes()).hexdigest()
    assert ours.preprocessing == f"open_clip preprocess: {_describe_transform(preprocess)}"
    assert "0.5" in ours.preprocessing  # the tag's mean/std, not open_clip's default
    images = torch.randint(0, 256, (3, 3, 24, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    pil = [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in images]
    with torch.no_grad():
        expected = torch.nn.functional.normalize(theirs.eval().encode_image(torch.stack([preprocess(p) for p in pil])),
                                                 dim=-1)
    torch.testing.assert_close(ours.features(images), expected, rtol=0, atol=1e-6)


# -- clean-fid's published statistics ----------------------------------------------------------------

def _stats_npz(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    np.savez(buffer, mu=rng.standard_normal(2048), sigma=np.diag(rng.uniform(0.5, 2.0, 2048)))
    return buffer.getvalue()


@pytest.fixture
def cleanfid_server(online, served, monkeypatch):
    import genbench.reference.cleanfid as cleanfid_stats

    monkeypatch.setattr(cleanfid_stats, "CLEANFID_STATS_URL", served.url("/stats/"))
    monkeypatch.setattr(cleanfid_stats, "_cleanfid_package_stats", lambda: online / "cleanfid_package" / "stats")
    served.add("/stats/cifar10_clean_train_32.npz", _stats_npz(1))
    return served


def test_cleanfid_names_are_clean_fids(tmp_path, monkeypatch):
    """The file clean-fid's get_reference_statistics fetches for a name is the one genbench fetches
    (lowercased; ``na`` for split custom; ``_kid`` beside it), and gives the same moments."""
    import cleanfid.features

    from genbench.reference import CLEANFID_STATS_URL, CleanFIDStats

    path = tmp_path / "stats.npz"
    path.write_bytes(_stats_npz(1))
    urls = []
    monkeypatch.setattr(cleanfid.features, "check_download_url", lambda local_folder, url: urls.append(url) or path)
    mu, sigma = cleanfid.features.get_reference_statistics("CIFAR10", 32, mode="clean", split="train")
    cleanfid.features.get_reference_statistics("FFHQ", 1024, mode="legacy_tensorflow", split="custom")
    with pytest.raises(KeyError):  # the KID call reads "feats", which our stand-in lacks: its URL is recorded first
        cleanfid.features.get_reference_statistics("CIFAR10", 32, mode="clean", split="train", metric="KID")
    ours = [CleanFIDStats.parse(f"cleanfid:{name}") for name in ("CIFAR10/clean/train/32",
                                                                 "FFHQ/legacy_tensorflow/custom/1024")]
    assert [u.rsplit("/", 1)[1] for u in urls] == [ours[0].filename, ours[1].filename,
                                                   ours[0].filename.removesuffix(".npz") + "_kid.npz"]
    assert all(u.replace("//", "/").replace(":/", "://") == CLEANFID_STATS_URL + u.rsplit("/", 1)[1] for u in urls)
    assert ours[0].resize == "clean" and ours[1].resize == "tf"
    assert CleanFIDStats.parse("cleanfid:x/legacy_pytorch/test/64").resize == "bilinear"
    with np.load(path) as f:
        assert np.array_equal(mu, f["mu"]) and np.array_equal(sigma, f["sigma"])


def test_cleanfid_statistics_by_name(cleanfid_server, online):
    from genbench.features.inception import PREPROCESSING, WEIGHTS
    from genbench.reference import Reference, cleanfid_cache_dir
    from genbench.features.registry import get_extractor

    by_name = Reference.load("cleanfid:CIFAR10/clean/train/32", progress=False)  # extractor chosen from the name
    cached = cleanfid_cache_dir() / "cifar10_clean_train_32.npz"
    assert cleanfid_server.requests == ["/stats/cifar10_clean_train_32.npz"] and cached.is_file()
    assert by_name.provenance["preprocessing"] == PREPROCESSING["clean"]
    assert by_name.provenance["weights_sha256"] == WEIGHTS.sha256  # no weights file needed, none fetched
    by_path = Reference.load(cached, extractor=get_extractor("inception-v3-fid", resize="clean"))
    assert np.array_equal(by_name.mu, by_path.mu) and np.array_equal(by_name.sigma, by_path.sigma)
    with offline():  # the second use reads the cache
        again = Reference.load("cleanfid:cifar10/clean/train/32", progress=False)
    assert np.array_equal(again.sigma, by_path.sigma) and len(cleanfid_server.requests) == 1


def test_cleanfid_found_in_clean_fids_folder_and_refusals(cleanfid_server, online, capsys):
    from genbench.reference import Reference

    package = online / "cleanfid_package" / "stats"
    package.mkdir(parents=True)
    (package / "lsun_cat_legacy_pytorch_train_256.npz").write_bytes(_stats_npz(2))
    with offline():
        ref = Reference.load("cleanfid:lsun_cat/legacy_pytorch/train/256", progress=False)
    assert ref.provenance["preprocessing"] == "torch-bilinear-299,2x-1" and cleanfid_server.requests == []
    # offline and not on disk; another feature space; a malformed name: one line each, exit 2
    for argv, expected in ((["--offline", "fid", "cleanfid:cifar10/clean/test/32", "cleanfid:cifar10/clean/test/32"],
                            "clean-fid statistics file cifar10_clean_test_32.npz is not here and genbench is offline"),
                           (["fid", "cleanfid:cifar10/clean/train/32", "cleanfid:cifar10/clean/train/32",
                             "--resize", "tf"], "in the space of inception-v3-fid with resize 'clean'"),
                           (["fid", "cleanfid:cifar10/clean/32", "x.npz"], "cleanfid:DATASET/MODE/SPLIT/RES")):
        assert main([*argv, "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and expected in err, err
    assert cleanfid_server.requests == []


@pytest.mark.slow
def test_cleanfid_fid_by_name_equals_by_path_without_weights(cleanfid_server, online, capsys):
    """`genbench fid cleanfid:NAME other.npz` = the same file read by path, and neither needs the
    Inception weights (none anywhere; the second call is offline). Two 2048-d FIDs: ~30 s here."""
    from genbench.features.inception import WEIGHTS
    from genbench.reference import cleanfid_cache_dir

    other = online / "other.npz"
    other.write_bytes(_stats_npz(3))
    assert main(["fid", "cleanfid:cifar10/clean/train/32", str(other), "--extractor", "inception-v3-fid",
                 "--json", "--quiet"]) == 0
    by_name = json.loads(capsys.readouterr().out)
    assert main(["--offline", "fid", str(cleanfid_cache_dir() / "cifar10_clean_train_32.npz"), str(other),
                 "--extractor", "inception-v3-fid", "--resize", "clean", "--json", "--quiet"]) == 0
    by_path = json.loads(capsys.readouterr().out)
    assert by_name["fid"] == by_path["fid"] > 0
    assert by_name["extractor"] == by_path["extractor"] and by_path["extractor"]["weights_sha256"] == WEIGHTS.sha256
    assert not (online / "home" / "weights").exists() and len(cleanfid_server.requests) == 1
