"""The synthetic carbon-nanomaterial TEM generator: seeded, physical sizes, imbalance."""

import numpy as np
import pytest

from napari_sciseg.data.cnt import (
    ALL_CLASSES,
    class_counts,
    cnt_images,
    cnt_tem,
    write_cnt_dataset,
)


@pytest.mark.parametrize("kind", ALL_CLASSES)
def test_every_class_is_seeded_bright_field(kind):
    a = cnt_tem(kind, shape=(64, 80), seed=5)
    assert a.shape == (64, 80) and a.dtype == np.float32
    assert np.array_equal(a, cnt_tem(kind, shape=(64, 80), seed=5))
    # bright background, darker material somewhere
    bright = np.percentile(a, 90)
    assert bright > 0.6 and a.min() < bright - 0.2


def test_material_covers_classes_differently():
    dark = {k: np.mean([(cnt_tem(k, seed=s) < 0.55).mean() for s in range(4)])
            for k in ("fiber", "cluster", "mixed")}
    assert dark["fiber"] < dark["cluster"] < dark["mixed"]


def test_metal_is_denser_than_graphene():
    assert cnt_tem("metal", seed=1).min() < 0.1 < cnt_tem("graphene", seed=1).min()


def test_study_imbalance():
    counts = class_counts(200)
    assert counts["fiber"] / sum(counts.values()) == pytest.approx(0.08, abs=0.01)
    s = cnt_images(25, shape=(32, 32), seed=2)
    assert np.bincount(s.labels).tolist() == list(class_counts(25).values())


def test_mixed_sizes_vary_shape_and_pixel_size():
    s = cnt_images(12, shape=(40, 40), mixed_sizes=True, seed=3)
    assert len({im.shape for im in s.images}) > 1 and np.ptp(s.spacings) > 0.1


def test_unknown_class_lists_the_classes():
    with pytest.raises(ValueError, match="soot"):
        cnt_tem("nanotube")


def test_csv_layout(tmp_path):
    table = write_cnt_dataset(tmp_path, 8, layout="csv", shape=(24, 24))
    lines = table.read_text().splitlines()
    assert lines[0] == "file,class,group" and len(lines) == 1 + sum(class_counts(8).values())
