"""The bundled KL autoencoder (``ldm-autoencoder``): the latent space of the ``ldm`` and ``gan`` generators.

Latents are (n, 4, 8, 8) for 32×32 images; the models that generate them work on
``scale_factor · z`` (``scale_factor`` in the autoencoder's manifest config) and decode
``z = latent / scale_factor``.
"""

from __future__ import annotations

from typing import Any

from genbench.assets import load_bundled_weights
from genbench.features.weights import WeightsError
from genbench.nn.autoencoder import KLAutoencoder

AUTOENCODER_WEIGHTS = "ldm-autoencoder"


def load_autoencoder(expected_sha256: str | None = None, user: str = "this model") -> tuple[KLAutoencoder, dict[str, Any]]:
    """The bundled ``ldm-autoencoder`` (float32, eval mode, CPU) and its manifest entry; with
    ``expected_sha256`` a different file is refused (a latent model only understands its own latents)."""
    state, entry = load_bundled_weights(AUTOENCODER_WEIGHTS)
    if expected_sha256 is not None and entry["sha256"] != expected_sha256:
        raise WeightsError(f"bundled {AUTOENCODER_WEIGHTS} has sha256 {entry['sha256']}, but {user} was "
                           f"trained on the latents of {expected_sha256}; retrain it or restore that file")
    model = KLAutoencoder.from_config(entry["config"])
    model.load_state_dict(state)
    return model.eval().requires_grad_(False), entry
