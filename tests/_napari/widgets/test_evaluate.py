"""The "Evaluate" widget: the numbers of ``sciseg evaluate`` for the same layers, in a worker."""

import numpy as np
import pytest
import tifffile

from napari_sciseg.cli import main


def _disks(shape, centres, radii, shift=(0, 0)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape, np.uint8)
    for (cy, cx), r in zip(centres, radii):
        out[(yy - cy - shift[0]) ** 2 + (xx - cx - shift[1]) ** 2 <= r * r] = 1
    return out


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(4)
    centres = [(20 + 30 * i, 20 + 30 * j) for i in range(4) for j in range(4)]
    radii = rng.uniform(5, 11, len(centres))
    truth = _disks((128, 128), centres, radii)
    pred = _disks((128, 128), centres[:-1], radii[:-1] * 1.08, shift=(1, 0))  # one missed
    return pred, truth


def _widget(viewer, qtbot):
    from napari_sciseg._napari.widgets.evaluate import EvaluateWidget

    w = EvaluateWidget(viewer)
    qtbot.addWidget(w)
    return w


def _run(w, qtbot):
    w.run()
    qtbot.waitUntil(lambda: w.result is not None and w.run_button.isEnabled(), timeout=60_000)


def test_widget_shows_what_sciseg_evaluate_prints(make_napari_viewer, qtbot, pair, tmp_path,
                                                   capsys):
    pred, truth = pair
    viewer = make_napari_viewer()
    viewer.add_labels(truth, name="truth")
    viewer.add_labels(pred, name="pred")
    w = _widget(viewer, qtbot)
    assert (w.pred_combo.currentText(), w.truth_combo.currentText()) == ("pred", "truth")
    w.particles.setChecked(True)
    _run(w, qtbot)

    tifffile.imwrite(tmp_path / "pred.tif", pred)
    tifffile.imwrite(tmp_path / "truth.tif", truth)
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "pred.tif"), str(tmp_path / "truth.tif"),
                 "--particles"]) == 0
    printed = capsys.readouterr().out
    # the same report below its heading (which names the files or the layers)
    assert w.result.text.split("\n", 1)[1] == printed.split("\n", 1)[1]
    assert w.summary.text() in printed and "KS" in w.summary.text()
    # the table shows the report's rows: class 1 row, IoU and instance F1 columns
    s = w.result.scores
    row = next(r for r in s.table if r["class"] == 1)
    assert 0.7 < row["iou"] < 0.95 and row["instance_f1"] == pytest.approx(2 * 15 / 31)
    cells = [w.table.item(1, j).text() for j in range(w.table.columnCount())]
    assert cells[0] == "1" and cells[1] == f"{row['iou']:.4f}" and cells[6] == f"{15 / 15.5:.4f}"
    # the PSD plot compares the two distributions
    assert w.psd_canvas.isVisible() or not w.isVisible()
    assert w.result.particles.n_pred == 15 and w.result.particles.n_true == 16
    legend = [t.get_text() for t in w.psd_figure.axes[0].get_legend().get_texts()]
    assert legend == ["prediction (n=15)", "truth (n=16)"]


def test_layer_scale_is_the_pixel_size(make_napari_viewer, qtbot, pair):
    from napari_sciseg.evaluate import evaluate_segmentation

    pred, truth = pair
    viewer = make_napari_viewer()
    kw = {"scale": (0.5, 0.5), "units": ("nm", "nm")}
    viewer.add_labels(truth, name="truth", **kw)
    viewer.add_labels(pred, name="pred", **kw)
    w = _widget(viewer, qtbot)
    w.particles.setChecked(True)
    w.tolerance.setValue(1.0)  # nm = 2 pixels
    _run(w, qtbot)
    expected = evaluate_segmentation(pred, truth, spacing=(0.5, 0.5), unit="nm", tolerance=1.0,
                                     particles=True)
    assert w.result.spacing == (0.5, 0.5) and w.result.unit == "nm"
    assert w.result.particles.mean_true == pytest.approx(expected.particles.mean_true)
    assert w.result.scores.summary() == expected.scores.summary()
    uncal = evaluate_segmentation(pred, truth, particles=True)
    assert w.result.particles.mean_true == pytest.approx(uncal.particles.mean_true * 0.5)


def test_bad_pairs_are_refused_in_the_words_of_the_fields(make_napari_viewer, qtbot, pair):
    pred, truth = pair
    viewer = make_napari_viewer()
    viewer.add_labels(truth[:100], name="truth")
    viewer.add_labels(pred, name="pred")
    w = _widget(viewer, qtbot)
    w.run()
    assert w.worker is None and "differ in shape" in w.summary.text()
    w.truth_combo.setCurrentText("pred")
    w.run()
    assert w.worker is None and "same layer" in w.summary.text()


def test_cancel_drops_the_result(make_napari_viewer, qtbot):
    from napari_sciseg.data.fibers import fiber_volume

    volume, _, phantom = fiber_volume(shape=(48, 56, 64), seed=5, return_truth=True)
    truth = phantom.mask.astype(np.uint8)
    viewer = make_napari_viewer()
    viewer.add_labels(truth, name="truth")
    viewer.add_labels(np.roll(truth, 1, axis=2), name="pred")
    w = _widget(viewer, qtbot)
    assert w.fibers.isEnabled() and not w.particles.isEnabled()
    w.fibers.setChecked(True)
    w.run()
    w.cancel()
    qtbot.waitUntil(lambda: w.run_button.isEnabled(), timeout=60_000)
    assert w.result is None and w.summary.text() == "cancelled"
    _run(w, qtbot)  # and again to the end: fibres matched
    f = w.result.fibers
    assert f.n_true > 3 and f.recall > 0.8 and "fibers:" in w.summary.text()
