"""``genbench models``: the bundled weights' table with a real sha256 check, and the chain of
commands behind a warm-started entry."""

from __future__ import annotations

import torch

from genbench import assets
from genbench.bundled_weights import weights_table, format_reproduction, reproduction
from genbench.cli import main


def test_table_lists_every_entry_and_verify_catches_altered_and_missing_files(random_bundled_assets, capsys):
    table = weights_table(verify=True)
    manifest = assets.read_manifest()
    assert list(table["name"]) == sorted(manifest)
    assert set(table["status"]) == {"ok"}
    for row in table.itertuples():
        path = assets.models_dir() / row.file
        assert row.size_mb == path.stat().st_size / 1e6 and manifest[row.name]["sha256"].startswith(row.sha256)
    assert set(weights_table()["status"]) == {"not checked"}  # hashing only on request
    assert main(["models", "--verify"]) == 0

    vae = assets.models_dir() / "vae.safetensors"
    vae.write_bytes(vae.read_bytes()[:-2] + b"00")
    (assets.models_dir() / "gan-generator.safetensors").unlink()
    checked = weights_table(verify=True)
    status = dict(zip(checked["name"], checked["status"]))
    assert status["vae"] == "sha256 mismatch" and status["gan-generator"] == "missing"
    assert status["ddpm-unet"] == "ok"
    capsys.readouterr()
    assert main(["models", "--verify"]) == 1
    err = capsys.readouterr().err
    assert "vae (sha256 mismatch)" in err and "gan-generator (missing)" in err


def test_reproduction_lists_the_lineage_oldest_first_then_the_entry(random_bundled_assets, capsys):
    earlier = [{"sha256": "aa" * 32, "steps": 100, "device": "cpu", "command": "python -m first"},
               {"sha256": "bb" * 32, "steps": 250, "device": "NVIDIA H100", "command": "start from …, then second"}]
    state = {"w": torch.zeros(3)}
    entry = assets.save_bundled_weights("ddpm-unet", state, {"architecture": "test"}, command="then third",
                                        steps=300, device="cpu", lineage=earlier)
    stages = reproduction("ddpm-unet")
    assert stages[:2] == earlier
    assert stages[2] == {"sha256": entry["sha256"], "steps": 300, "device": "cpu", "command": "then third"}
    text = format_reproduction("ddpm-unet")
    assert text.index("python -m first") < text.index("then second") < text.index("then third")
    assert "3 stages" in text and "250 steps on NVIDIA H100" in text

    assert reproduction("vae")[0]["command"] == "test"  # no lineage: the entry alone
    assert main(["models", "ddpm-unet"]) == 0 and "then third" in capsys.readouterr().out
    assert main(["models", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert "no bundled model 'no-such-model'" in err and not err.strip().endswith('"')
