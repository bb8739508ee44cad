"""Data sets for image classification: class folders, CSVs, and the errors of bad input."""

import numpy as np
import pytest
import tifffile

from napari_sciseg.classify.images.dataset import load_images, read_image_dataset
from napari_sciseg.data.cnt import write_cnt_dataset


def test_folder_dataset(tmp_path):
    root = write_cnt_dataset(tmp_path, 10, shape=(24, 24))
    ds = read_image_dataset(root)
    assert ds.class_names == ("cluster", "fiber", "matrix", "mixed")
    assert ds.counts()["fiber"] == 2 and ds.counts()["cluster"] == 4
    assert not ds.has_groups
    loaded = load_images(ds)
    assert loaded.images[0].shape == (1, 24, 24)
    assert loaded.spacings[0] == pytest.approx(2.0)


def test_csv_dataset_with_groups_and_metadata(tmp_path):
    table = write_cnt_dataset(tmp_path, 10, layout="csv", shape=(24, 24))
    text = table.read_text().splitlines()
    table.write_text("\n".join([text[0] + ",dose"] + [r + ",5" for r in text[1:]]) + "\n")
    ds = read_image_dataset(table)
    n = len(text) - 1
    assert ds.has_groups and ds.metadata == {"dose": ["5"] * n}
    assert len(load_images(ds).images) == n


def test_empty_class_folder(tmp_path):
    root = write_cnt_dataset(tmp_path, 10, shape=(24, 24))
    (root / "soot").mkdir()
    with pytest.raises(ValueError, match=r"soot holds no images.*remove the folder"):
        read_image_dataset(root)


def test_one_class_only(tmp_path):
    (tmp_path / "fibre").mkdir()
    tifffile.imwrite(tmp_path / "fibre" / "a.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="at least two classes"):
        read_image_dataset(tmp_path)


def test_one_group_for_everything(tmp_path):
    table = write_cnt_dataset(tmp_path, 10, layout="csv", shape=(24, 24))
    rows = table.read_text().splitlines()
    table.write_text("\n".join([rows[0]] + [",".join(r.split(",")[:2] + ["s1"])
                                            for r in rows[1:]]) + "\n")
    with pytest.raises(ValueError, match="one group"):
        read_image_dataset(table)


def test_other_channel_count(tmp_path):
    root = write_cnt_dataset(tmp_path, 10, shape=(24, 24))
    tifffile.imwrite(root / "fiber" / "rgb.tif", np.random.default_rng(0).integers(
        0, 255, (24, 24, 3), dtype=np.uint8), photometric="rgb")
    with pytest.raises(ValueError, match=r"rgb.tif has 3 channel\(s\).*has 1"):
        load_images(read_image_dataset(root))


def test_unreadable_files_are_skipped_and_named(tmp_path):
    root = write_cnt_dataset(tmp_path, 10, shape=(24, 24))
    (root / "fiber" / "broken.tif").write_bytes(b"not a tiff")
    ds = read_image_dataset(root)
    loaded = load_images(ds)
    assert len(loaded.images) == len(ds) - 1 and len(loaded.skipped) == 1
    assert "broken.tif" in loaded.skipped[0]
    assert "broken.tif" not in str(loaded.dataset.files)
