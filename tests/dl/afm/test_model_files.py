"""AFM model files saved by an earlier version still load and predict the same."""

import json
from pathlib import Path

import numpy as np
import pytest

from napari_sciseg.dl.afm import load_afm_model, predict_scan

MODELS = Path(__file__).parents[2] / "data" / "afm" / "models"


@pytest.fixture(scope="module")
def expected():
    return json.loads((MODELS / "expected.json").read_text())


@pytest.mark.parametrize("name", ["early_meta_format3", "vlad_format3"])
def test_format3_model_files_load_and_reproduce_their_predictions(name, expected):
    model = load_afm_model(MODELS / f"{name}.sciseg")
    assert model.config.format_version == 3
    scan = np.load(MODELS / "scan_96px.npy")
    meta = expected["metadata"] if model.needs_metadata else None
    pred = predict_scan(model, scan, spacing=expected["nm_per_px"], metadata=meta)
    np.testing.assert_allclose(pred.probabilities, expected[name], atol=1e-5)
    if f"{name}_tiles" in expected:
        np.testing.assert_allclose(pred.tile_probabilities, expected[f"{name}_tiles"], atol=1e-5)
