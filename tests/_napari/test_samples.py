"""Every sample opens through the plugin with the right layers, types and scales."""

import numpy as np
import pytest

PLUGIN = "napari-sciseg"

EXPECTED = {
    # key: [(layer name, layer type, ndim)]
    "tem_bf": [("TEM bright-field particles", "image", 2)],
    "stem_haadf": [("HAADF-STEM particles", "image", 2)],
    "scribbles_2d": [("disks and lines", "image", 2), ("disks and lines scribbles", "labels", 2)],
    "fiber_volume": [("fiber volume", "image", 3), ("fiber volume scribbles", "labels", 3)],
    "afm_scan": [
        ("AFM scan height", "image", 2),
        ("AFM scan amplitude", "image", 2),
        ("AFM scan phase", "image", 2),
        ("AFM scan z-sensor", "image", 2),
    ],
    "scattering": [("scattering pattern", "image", 2), ("detector gaps", "labels", 2)],
}


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_sample_opens_with_names_types_and_scales(make_napari_viewer, key):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, key)
    got = [(layer.name, layer._type_string, layer.ndim) for layer in viewer.layers]
    assert got == EXPECTED[key]
    if key in ("tem_bf", "stem_haadf"):
        (layer,) = viewer.layers
        np.testing.assert_allclose(layer.scale, (0.2, 0.2))
        assert str(layer.units[-1]) == "nanometer"
    if key == "afm_scan":
        scales = {tuple(layer.scale) for layer in viewer.layers}
        assert len(scales) == 1 and next(iter(scales))[0] > 0.5  # nm per pixel of a µm scan
    if len(viewer.layers) == 2 and viewer.layers[1]._type_string == "labels":
        image, labels = viewer.layers
        assert image.data.shape == labels.data.shape
        np.testing.assert_allclose(image.scale, labels.scale)
        # scribbles: unlabeled, two classes; detector gaps: 1 = missing pixel
        assert set(np.unique(labels.data)) == ({0, 1} if key == "scattering" else {0, 1, 2})
