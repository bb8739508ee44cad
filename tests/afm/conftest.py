import pytest


@pytest.fixture(scope="session")
def afm_csv(tmp_path_factory):
    """A small synthetic data set: 20 scans of 128² px (78 nm/px) from 5 samples."""
    from napari_sciseg.data.afm import afm_dataset

    return afm_dataset(
        tmp_path_factory.mktemp("afm_ds"), n_scans=20, n_samples=5, seed=1, shape=(128, 128)
    )
