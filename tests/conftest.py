"""Shared fixtures. GUI tests use napari's ``make_napari_viewer`` under Xvfb (pytest-xvfb)."""

import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)
