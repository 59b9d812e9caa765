"""FID of shapes-net features rises with every disturbance's level; IS falls as noise grows."""

import numpy as np
import pytest

from genbench.disturbance_study import disturbance_study, study_table


@pytest.fixture(scope="module")
def study():
    return disturbance_study(n=1000, batch_size=500, progress=False)


def test_fid_rises_monotonically_with_level(study):
    fid = study_table(study, "fid")
    assert len(fid) == 4 and fid.shape[1] == 5  # 4 disturbances × (clean + 4 levels)
    for name, row in fid.iterrows():
        assert np.all(np.diff(row.to_numpy()) > 0), f"{name}: {row.to_dict()}"


def test_is_falls_as_noise_grows(study):
    is_noise = study_table(study, "is_mean").loc["gaussian_noise"].to_numpy()
    assert np.all(np.diff(is_noise) < 0), is_noise
