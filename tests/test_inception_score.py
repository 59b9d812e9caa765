import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric

from genbench.metrics.inception_score import inception_score


def random_probs(n, k, seed, temp=1.0):
    logits = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, k)) * temp)
    return logits.softmax(dim=1).double()


@pytest.mark.parametrize("shuffle", [False, True])
def test_equals_torch_fidelity(shuffle):
    probs = random_probs(1003, 1008, 0, temp=3.0)
    ours = inception_score(probs, splits=10, shuffle=shuffle, seed=2020)
    # torch-fidelity takes logits; log p is a valid logit vector for p.
    ref = isc_features_to_metric(probs.log(), splits=10, shuffle=shuffle, rng_seed=2020)
    assert ours[0] == pytest.approx(ref["inception_score_mean"], rel=1e-9)
    assert ours[1] == pytest.approx(ref["inception_score_std"], rel=1e-6, abs=1e-12)


def test_closed_form_extremes():
    k = 10
    one_hot = torch.eye(k).repeat(50, 1).double()  # confident and uniform over classes: IS = k
    assert inception_score(one_hot, splits=5)[0] == pytest.approx(k, rel=1e-12)
    uniform = torch.full((100, k), 1.0 / k, dtype=torch.float64)  # no information: IS = 1
    mean, std = inception_score(uniform)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    single_class = torch.zeros(100, k, dtype=torch.float64)
    single_class[:, 3] = 1.0  # confident but one mode: IS = 1, zeros handled as 0·log 0 = 0
    assert inception_score(single_class)[0] == pytest.approx(1.0, abs=1e-12)


def test_shuffle_is_seeded():
    probs = random_probs(200, 10, 1, temp=2.0)
    assert inception_score(probs, shuffle=True, seed=5) == inception_score(probs, shuffle=True, seed=5)
    assert inception_score(probs, shuffle=True, seed=5) != inception_score(probs, shuffle=True, seed=6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="softmax outputs, not logits"):
        inception_score(torch.randn(20, 5))
    with pytest.raises(ValueError, match="one sample per split"):
        inception_score(random_probs(5, 3, 0), splits=10)
