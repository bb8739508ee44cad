"""Shared fixtures. GUI tests use napari's ``make_napari_viewer`` under Xvfb (pytest-xvfb)."""

import numpy as np
import pytest


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` are skipped where torch sees no CUDA device."""
    gpu = [item for item in items if "gpu" in item.keywords]
    if not gpu:
        return
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA device (marker gpu)")
        for item in gpu:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def few_torch_threads():
    """Tiny models: more threads only add overhead on the shared 2-core CI."""
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="session")
def afm_csv(tmp_path_factory):
    """A small synthetic AFM data set: 20 scans of 128² px (78 nm/px) from 5 samples.

    Shared by the AFM tests of every layer (classify, dl, cli, widgets).
    """
    from napari_sciseg.data.afm import afm_dataset

    return afm_dataset(
        tmp_path_factory.mktemp("afm_ds"), n_scans=20, n_samples=5, seed=1, shape=(128, 128)
    )


@pytest.fixture(autouse=True, scope="session")
def _onnx_cache_in_a_temporary_folder(tmp_path_factory):
    """``sciseg predict`` caches ONNX exports of models; tests never write the user's cache."""
    import os

    old = os.environ.get("NAPARI_SCISEG_CACHE")
    os.environ["NAPARI_SCISEG_CACHE"] = str(tmp_path_factory.mktemp("sciseg-cache"))
    yield
    if old is None:
        os.environ.pop("NAPARI_SCISEG_CACHE", None)
    else:
        os.environ["NAPARI_SCISEG_CACHE"] = old
