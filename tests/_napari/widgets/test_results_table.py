"""The results table dock: a result layer's table, sortable, click -> go there, CSV."""

import csv

import numpy as np
import pytest

from napari_sciseg._napari.widgets.results_table import ResultsTableWidget


@pytest.fixture
def viewer_and_table(make_napari_viewer):
    viewer = make_napari_viewer()
    labels = np.zeros((60, 80), np.int32)
    labels[10:20, 10:20] = 1  # centre (14.5, 14.5)
    labels[40:50, 60:70] = 2  # centre (44.5, 64.5)
    labels[30:32, 30:34] = 3  # centre (30.5, 31.5)
    feats = {"index": [1, 2, 3], "diameter": [11.3, 2.0, 5.5], "class": ["a", "b", "c"]}
    layer = viewer.add_labels(labels, name="particles", scale=(2.0, 2.0),
                              translate=(10.0, 0.0), features=feats)
    viewer.add_image(np.zeros((60, 80)), name="no table")
    widget = ResultsTableWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget, layer


def test_sort_click_centres_and_export_in_shown_order(viewer_and_table, tmp_path):
    viewer, widget, layer = viewer_and_table
    assert [widget.layer_combo.itemText(i) for i in range(widget.layer_combo.count())] == [
        "particles"]  # only layers with a table
    assert widget.table.rowCount() == 3 and widget.table.columnCount() == 3
    widget.table.sortItems(1)  # by diameter, numerically (2.0 < 5.5 < 11.3)
    assert [widget.table.item(r, 1).text() for r in range(3)] == ["2", "5.5", "11.3"]
    world = widget.go_to(0)  # the smallest: label 2
    np.testing.assert_allclose(world, (10 + 2 * 44.5, 2 * 64.5))
    np.testing.assert_allclose(viewer.camera.center[-2:], world)
    assert layer.selected_label == 2
    widget.table.cellClicked.emit(2, 0)  # a click on the largest: label 1
    np.testing.assert_allclose(viewer.camera.center[-2:], (10 + 2 * 14.5, 2 * 14.5))

    path = widget.export_csv(tmp_path / "t.csv")
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["index", "diameter", "class"]
    assert [r[0] for r in rows[1:]] == ["2", "3", "1"]  # the order shown
    assert rows[1][1] == "2"


def test_3d_row_moves_the_slice_and_refreshes_on_rerun(make_napari_viewer):
    viewer = make_napari_viewer()
    labels = np.zeros((10, 20, 20), np.int32)
    labels[7, 4:6, 4:6] = 5
    layer = viewer.add_labels(labels, name="fibres", features={"label": [5], "length": [2.0]})
    widget = ResultsTableWidget(viewer)
    widget.go_to(0)
    assert viewer.dims.current_step[0] == 7
    layer.features = {"label": [5, 6], "length": [2.0, 1.0]}
    layer.data = labels  # a re-run writes new data and features
    assert widget.table.rowCount() == 2
    viewer.layers.remove(layer)
    assert widget.table.rowCount() == 0 and not widget.export_button.isEnabled()
