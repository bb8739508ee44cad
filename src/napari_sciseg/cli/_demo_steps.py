"""The steps of ``sciseg demo --headless``: every workflow on the sample data, in one place.

Each step takes an output folder, runs one workflow through the same functions
the CLI commands use, writes what that command would write, and returns a
one-line summary (with the ground truth where the sample has one). They are
registered in ``cli/_demo.py`` as ``HEADLESS_STEPS``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

__all__ = ["afm", "embed", "fibers", "particles", "predict", "restore", "samples"]

#: nm per pixel of the TEM samples written by the demo.
TEM_PIXEL_SIZE_NM = 0.2

#: seconds-long training recipe of the ``predict`` step (members, steps, crop...).
_PREDICT_RECIPE = {
    "members": 3,
    "steps": 80,
    "crop": 48,
    "batch": 2,
    "seed": 0,
    "model_kwargs": {"depth": 5, "dilations": (1, 2, 3, 4)},
}


def samples(outdir: Path) -> str:
    """Write every sample image with its scribbles or truth as calibrated TIFFs."""
    from ..data import afm_scan, fiber_volume, scribbles_2d, tem_particles
    from ..io.tiff import write_tiff

    outdir = Path(outdir)
    written = []
    for mode in ("bf", "haadf"):
        image, truth = tem_particles(mode, pixel_size=TEM_PIXEL_SIZE_NM, seed=0, return_truth=True)
        sp = (TEM_PIXEL_SIZE_NM,) * 2
        write_tiff(outdir / f"tem_{mode}.tif", image, spacing=sp)
        write_tiff(outdir / f"tem_{mode}_truth.tif", np.asarray(truth.labels), spacing=sp)
        written += [f"tem_{mode}.tif"]
    image, scribbles, truth = scribbles_2d(seed=0, return_truth=True)
    write_tiff(outdir / "scribbles_2d_image.tif", image, unit="pixel")
    write_tiff(outdir / "scribbles_2d_labels.tif", scribbles, unit="pixel")
    write_tiff(outdir / "scribbles_2d_truth.tif", np.asarray(truth, dtype=np.uint8), unit="pixel")
    volume, scribbles, ftruth = fiber_volume(seed=0, return_truth=True)
    write_tiff(outdir / "fiber_volume.tif", volume, unit="pixel")
    write_tiff(outdir / "fiber_volume_scribbles.tif", scribbles, unit="pixel")
    write_tiff(outdir / "fiber_volume_truth.tif", np.asarray(ftruth.labels), unit="pixel")
    scan = afm_scan(seed=0)
    write_tiff(
        outdir / "afm_scan.tif",
        scan.data,
        spacing=scan.spacing,
        axes=scan.axes,
        channel_names=scan.channel_names,
    )
    written += ["scribbles_2d_*.tif", "fiber_volume*.tif", "afm_scan.tif"]
    return f"wrote {', '.join(written)}"


def particles(outdir: Path) -> str:
    """Size the particles of both TEM samples, as ``sciseg particles`` does."""
    from ..data import tem_particles
    from ..io.tiff import write_tiff
    from ._particles import process_image

    outdir = Path(outdir)
    parts = []
    for mode in ("bf", "haadf"):
        image = tem_particles(mode, pixel_size=TEM_PIXEL_SIZE_NM, seed=0)
        path = outdir / f"tem_{mode}.tif"
        write_tiff(path, image, spacing=(TEM_PIXEL_SIZE_NM, TEM_PIXEL_SIZE_NM))
        row = process_image(path, outdir)
        parts.append(
            f"{mode.upper()}: {row['n_isolated']}/{row['n_particles']} isolated, "
            f"mean {row['mean']:.2f} ± {row['sd']:.2f} {row['unit']}"
        )
    return "; ".join(parts)


def afm(outdir: Path) -> str:
    """A small synthetic AFM data set -> VLAD model -> predictions + a levelled scan."""
    from ..data.afm import afm_dataset
    from ._afm import _parse, run

    outdir = Path(outdir)
    csv_path = afm_dataset(outdir / "dataset", n_scans=16, n_samples=4, seed=0, shape=(128, 128))
    model = outdir / "afm_vlad.sciseg"
    run(_parse(["train", csv_path, "-o", model, "--fusion", "vlad", "--no-metadata", "--tile", 64]))
    run(_parse(["predict", model, csv_path, "-o", outdir / "predictions"]))
    run(_parse(["level", outdir / "dataset" / "scan_000.tif", "-o", outdir / "levelled"]))
    return "trained a VLAD crystal-class model on 12 synthetic scans, predicted 16, levelled 1"


def _write_prediction(outdir: Path, stem: str, result) -> None:
    from ..io.tiff import write_tiff

    spatial = "YX" if result.segmentation.ndim == 2 else "ZYX"
    for name, data, axes in (
        ("probability", result.mean, "C" + spatial),
        ("std", result.std, "C" + spatial),
        ("segmentation", result.segmentation, spatial),
    ):
        write_tiff(outdir / f"{stem}_{name}.tif", data, axes=axes, unit="pixel")


def _foreground_f1(segmentation: np.ndarray, truth: np.ndarray) -> float:
    """F1 (Dice) of the confident foreground (class 2) against a boolean truth."""
    from ..evaluate.segmentation import segmentation_scores

    scores = segmentation_scores((segmentation == 2).astype(np.uint8), truth.astype(np.uint8))
    return float(next(row["dice"] for row in scores.table if row["class"] == 1))


def predict(outdir: Path) -> str:
    """Train small ensembles on the 2D scribble and 3D fibre samples; predict; write outputs.

    The summary gives the F1 of the confident foreground against the truth, the
    unsure fraction and the conformal threshold on held-out scribbles.
    """
    from ..data import fiber_volume, scribbles_2d
    from ..dl import predict as run_prediction
    from ..dl import save_model, train
    from ..dl.conformal import calibrate

    outdir = Path(outdir)
    image, scribbles, truth = scribbles_2d(return_truth=True)
    trained = train(image, scribbles, dim="2", **_PREDICT_RECIPE)
    save_model(trained, outdir / "scribbles_2d.sciseg")
    result = run_prediction(trained, image)
    _write_prediction(outdir, "scribbles_2d", result)
    cal = calibrate(trained, image, scribbles, alpha=0.1, prediction=result)
    parts = [
        f"2D F1 {_foreground_f1(result.segmentation, np.asarray(truth, bool)):.2f}, unsure "
        f"{np.mean(result.segmentation == 0):.1%}, conformal q {cal.thresholds[0]:.2f}"
    ]
    volume, vscribbles, vtruth = fiber_volume(shape=(64, 64, 64), return_truth=True)
    trained3 = train(volume, vscribbles, dim="2.5", slice_axis=0, **_PREDICT_RECIPE)
    save_model(trained3, outdir / "fibers_2.5d.sciseg")
    result3 = run_prediction(trained3, volume)
    _write_prediction(outdir, "fibers", result3)
    parts.append(
        f"3D fibers F1 {_foreground_f1(result3.segmentation, np.asarray(vtruth.labels) > 0):.2f}"
        f", unsure {np.mean(result3.segmentation == 0):.1%}"
    )
    return "; ".join(parts)


def fibers(outdir: Path) -> str:
    """The 96³ sample's scribbles -> small SMSNet ensemble -> fibres report."""
    from ..data import fiber_volume
    from ..dl import predict as run_prediction
    from ..dl import save_model, train
    from ..io.tiff import write_tiff
    from ..measure.fiber_workflow import measure_fibers
    from ._fibers import write_report

    outdir = Path(outdir)
    volume, scribbles, truth = fiber_volume(seed=0, return_truth=True)
    t0 = time.perf_counter()
    model = train(volume, scribbles, arch="smsnet", members=3, steps=150, dim="2.5",
                  slice_axis=0, seed=0, class_names=["matrix", "fiber"],
                  model_kwargs={"depth": 10})  # fmt: skip
    save_model(model, outdir / "fibers.sciseg")
    pred = run_prediction(model, volume, k=1.0)
    write_tiff(outdir / "confident_fiber_mask.tif", pred.segmentation == 2, unit="pixel")
    analysis = measure_fibers(pred.segmentation, fiber_class=2, probability=pred.mean[1],
                              std=pred.std[1])  # fmt: skip
    true_median = float(np.median(truth.lengths))
    extra = {"inputs": {"volume": "sample fiber_volume(seed=0)", "model": "fibers.sciseg",
                        "connectivity": 26},
             "true_count": truth.n_fibers, "true_median_length": true_median}  # fmt: skip
    summary = write_report(analysis, outdir, extra=extra, truth=truth)
    med = summary["median_length"]
    return (
        f"{analysis.count} fibers (truth {truth.n_fibers}), median length "
        f"{med if med is None else round(med, 1)} voxels (truth {true_median:.1f}); "
        f"train+predict {time.perf_counter() - t0:.0f} s"
    )


def embed(outdir: Path) -> str:
    """Autoencoder latent space of 48 tiles of four random shapes (``sciseg embed``)."""
    from sklearn.metrics import adjusted_rand_score

    from ..data.shapes import shapes_mosaic
    from ..dl.embedding import embed_tiles
    from ..io.tables import write_table
    from ..io.tiff import write_tiff

    outdir = Path(outdir)
    image, shapes = shapes_mosaic(6, 8, size=32, noise=0.05, seed=0)
    write_tiff(outdir / "shapes.tif", image, unit="pixel")
    emb = embed_tiles(image, tile=32, cluster="kmeans", n_clusters=4, seed=0,
                      train_kwargs={"depth": 3, "base_channels": 8, "latent_size": 8,
                                    "steps": 150})
    write_table(outdir / "shapes_latents.csv", emb.table(["shapes.tif"]))
    ari = adjusted_rand_score(shapes.ravel(), emb.clusters)
    r = emb.model.metrics["val_pearson_r"]
    return (f"embed: {len(emb.vectors)} tiles of four shapes -> 8-d latent vectors "
            f"(reconstruction r {r:.2f}); k-means vs the true shapes: ARI {ari:.2f}; "
            "shapes_latents.csv")


def restore(outdir: Path) -> str:
    """Detector gaps of a scattering pattern filled by a network trained on another
    (``sciseg train --task inpainting`` + ``sciseg predict --mask``), beside biharmonic."""
    from ..data.scattering import scattering_pattern
    from ..dl import inpaint, save_model, train_inpainting
    from ..evaluate.restoration import inpaint_classical, restoration_scores
    from ..io.tiff import write_tiff

    outdir = Path(outdir)
    grid = {"exposure": 30, "module": (20, 28), "gap": (3, 2)}
    train_image, train_gaps = scattering_pattern((96, 96), seed=1, **grid)
    t0 = time.perf_counter()
    model = train_inpainting(train_image, train_gaps, steps=40, crop=48, lr=3e-3,
                             transform="log1p", seed=0)
    save_model(model, outdir / "gaps.sciseg")
    pattern, gaps, truth = scattering_pattern((96, 96), seed=2, return_truth=True, **grid)
    filled = inpaint(model, pattern, gaps).values
    write_tiff(outdir / "pattern.tif", pattern, unit="pixel")
    write_tiff(outdir / "pattern_inpainted.tif", filled, unit="pixel")
    net = restoration_scores(filled, truth["intensity"], mask=gaps)
    bih = restoration_scores(inpaint_classical(pattern, gaps, log=True), truth["intensity"],
                             mask=gaps)
    return (f"inpainting: gaps r {net.pearson_r:.4f} L1 {net.l1:.0f} counts (biharmonic "
            f"{bih.pearson_r:.4f}, {bih.l1:.0f}); train+predict "
            f"{time.perf_counter() - t0:.0f} s")
