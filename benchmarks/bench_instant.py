"""Instant feedback: the fast pixel forest vs an ilastik-like reference and the deep ensemble.

    python benchmarks/bench_instant.py [--quick] [--no-ensemble] [--pseudo]

1. Stroke latency (features cached, as in the widget): scribbles are revealed stroke
   by stroke (each connected scribble component is a stroke); after each, the
   forest is refitted on all scribbled pixels and the visible slice predicted
   (mean, tree std, confident segmentation). On the 1024² scribble sample and on
   the visible slice of a 512x512x64 fiber volume (2D features per slice, the
   widget's default for volumes; the scribbled slices' features cached).
2. F1 against dense truth, argmax of the mean probability, on the project's 2D
   scribble sample (512², ``scribbles_2d``) and on a real image (scikit-image's
   ``coins``, see ``coins_task``), for the forest, the ilastik-like reference
   (scikit-learn random forest, 100 trees, ilastik's default features at σ 0.3,
   0.7, 1, 1.6, 3.5, 5, 10) on the same scribbles, and the deep ensemble (5
   SMSNets); with the times per stroke (fit + predict, features cached) and of
   the features. Everything runs on one thread.
3. ``--pseudo``: does starting the ensemble from the forest's confident
   pseudo-labels help F1 at equal steps?

Results go to ``benchmarks/results/instant.md`` (the notes there are by hand).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from scipy import ndimage as ndi  # noqa: E402

ILASTIK_SIGMAS = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)


def f1(pred, truth) -> float:
    return float(2 * np.sum(pred & truth) / max(pred.sum() + truth.sum(), 1))


def strokes_from_truth(truth, *, seed=0, n_background=8, n_objects=None):
    """Scribbles drawn like a user: straight strokes in eroded background and objects.

    Background strokes are random lines kept where they lie 4+ px away from any
    object; foreground strokes join two random points inside half of the objects
    (eroded by 2 px). 0 = unlabeled, 1 = background, 2 = object.
    """
    from skimage.draw import line

    rng = np.random.default_rng(seed)
    shape = truth.shape
    inside = ndi.binary_erosion(truth, iterations=2)
    outside = ~ndi.binary_dilation(truth, iterations=4)
    scribbles = np.zeros(shape, np.uint8)
    for _ in range(n_background):
        y0, x0 = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        a, n = rng.uniform(0, np.pi), rng.uniform(0.15, 0.4) * min(shape)
        y1 = int(np.clip(y0 + n * np.sin(a), 0, shape[0] - 1))
        x1 = int(np.clip(x0 + n * np.cos(a), 0, shape[1] - 1))
        stroke = np.zeros(shape, bool)
        stroke[line(int(y0), int(x0), y1, x1)] = True
        scribbles[ndi.binary_dilation(stroke) & outside] = 1
    labeled, n_obj = ndi.label(inside)
    for obj in rng.permutation(n_obj)[: n_objects or max(3, n_obj // 2)] + 1:
        ys, xs = np.nonzero(labeled == obj)
        p = rng.choice(len(ys), size=2)
        stroke = np.zeros(shape, bool)
        stroke[line(ys[p[0]], xs[p[0]], ys[p[1]], xs[p[1]])] = True
        scribbles[ndi.binary_dilation(stroke) & inside] = 2
    return scribbles


def coins_task(seed=0):
    """scikit-image's ``coins`` (a real photograph of 24 coins, uneven lighting).

    Truth: intensity markers far from any threshold (< 30 background, > 150 coin),
    watershed on the Sobel gradient, holes filled, objects under 100 px dropped;
    all 24 coins come out as one object each (outlines checked by eye).
    """
    from skimage import data, filters, morphology, segmentation

    coins = data.coins()
    markers = np.zeros(coins.shape, np.uint8)
    markers[coins < 30], markers[coins > 150] = 1, 2
    seg = segmentation.watershed(filters.sobel(coins), markers)
    truth = morphology.remove_small_objects(ndi.binary_fill_holes(seg == 2), max_size=100)
    return coins.astype(np.float32), strokes_from_truth(truth, seed=seed), truth


def sample_task(seed=0):
    from napari_sciseg.data.scribbles import scribbles_2d

    return scribbles_2d(shape=(512, 512), seed=seed, return_truth=True)


def ilastik_features(image):
    """ilastik's default pixel features, computed with scipy/scikit-image."""
    from skimage.feature import hessian_matrix, hessian_matrix_eigvals

    image = image.astype(np.float32)
    feats = [image]
    for s in ILASTIK_SIGMAS:
        g = ndi.gaussian_filter(image, s)
        feats.append(g)
        if s < 0.7:
            continue
        feats.append(ndi.gaussian_laplace(image, s))
        feats.append(ndi.gaussian_gradient_magnitude(image, s))
        feats.append(g - ndi.gaussian_filter(image, 0.66 * s))
        inner = ndi.gaussian_filter(image, s / 2)
        gy, gx = np.gradient(inner)
        a, b, c = (ndi.gaussian_filter(p, s) for p in (gy * gy, gy * gx, gx * gx))
        root = np.sqrt(0.25 * (a - c) ** 2 + b * b)
        feats += [0.5 * (a + c) + root, 0.5 * (a + c) - root]
        h = hessian_matrix(image, sigma=s, order="rc", use_gaussian_derivatives=False)
        feats += list(hessian_matrix_eigvals(h))
    return np.stack(feats).astype(np.float32)


def run_reference(image, scribbles, truth, seed=0):
    from sklearn.ensemble import RandomForestClassifier

    t0 = time.perf_counter()
    feats = ilastik_features(image)
    t_feat = time.perf_counter() - t0
    mask = scribbles > 0
    t0 = time.perf_counter()
    clf = RandomForestClassifier(100, n_jobs=1, random_state=seed)
    clf.fit(feats[:, mask].T, scribbles[mask])
    proba = clf.predict_proba(feats.reshape(len(feats), -1).T)
    t_stroke = time.perf_counter() - t0
    pred = (clf.classes_[proba.argmax(1)] == 2).reshape(truth.shape)
    return f1(pred, truth), t_feat, t_stroke


def run_forest(image, scribbles, truth, seed=0, trees=16, fit_pixels=10_000, stride=1):
    from napari_sciseg.classify.forest_engine import (
        image_features,
        predict_features,
        train_forest,
    )

    t0 = time.perf_counter()
    feats = image_features(image, sigmas=None, spacing=None)
    t_feat = time.perf_counter() - t0
    t0 = time.perf_counter()
    forest = train_forest(image, scribbles, seed=seed, features_of=lambda _: feats,
                          trees=trees, max_samples=fit_pixels)
    result = predict_features(forest, feats, stride=stride)
    t_stroke = time.perf_counter() - t0
    return f1(result.mean.argmax(0) == 1, truth), t_feat, t_stroke, result


def run_ensemble(image, labels, truth, *, steps, seed=0):
    import torch

    from napari_sciseg.dl import predict, train

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.perf_counter()
    # the default sciseg train config (5 SMSNets, crop 64, batch 2) but no early stop:
    # every arm runs exactly ``steps`` steps
    model = train(image, labels, members=5, steps=steps, seed=seed, device="cpu",
                  early_stopping=None)
    t = time.perf_counter() - t0
    result = predict(model, image, device="cpu")
    return f1(np.asarray(result.mean).argmax(0) == 1, truth), t


def stroke_latency(image, scribbles, visible=None, slice_axis=0, n_strokes=10, trees=8,
                   fit_pixels=2000, stride=2):
    """Median and p95 of fit + predict of the visible slice after each revealed stroke.

    As the widget's instant mode: ``trees`` trees fitted on at most ``fit_pixels``
    scribbled pixels per class, the first answer predicted every ``stride``-th pixel
    (interpolated between); the refined answer (every pixel, same forest) is timed
    apart. Wall and CPU (``time.process_time``, which other processes' load cannot
    inflate) per stroke.
    """
    from napari_sciseg._generators import drain
    from napari_sciseg.classify.forest_engine import (
        image_features,
        iter_train_forest,
        predict_features,
    )

    cache = {}

    def features_of(index):
        if index not in cache:
            part = image if index is None else np.take(image, index, axis=slice_axis)
            cache[index] = image_features(part, sigmas=None, spacing=None)
        return cache[index]

    t0 = time.perf_counter()
    view = features_of(visible)
    t_feat = time.perf_counter() - t0
    comps, n = ndi.label(scribbles > 0)
    order = np.random.default_rng(0).permutation(n) + 1
    classes = [int(scribbles[comps == c].max()) for c in order]
    first = [order[classes.index(1)], order[classes.index(2)]]
    rest = [c for c in order if c not in first][: n_strokes - 1]
    shown = np.zeros_like(scribbles)
    times, cpu, refine = [], [], []
    for comp in [None, *rest]:
        for c in first if comp is None else [comp]:
            shown[comps == c] = scribbles[comps == c]
        dim = "2" if image.ndim == 2 else "2.5"
        t0, c0 = time.perf_counter(), time.process_time()
        forest = drain(iter_train_forest(image, shown, dim=dim, slice_axis=slice_axis,
                                         features_of=features_of, trees=trees,
                                         max_samples=fit_pixels))
        predict_features(forest, view, stride=stride)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        predict_features(forest, view)
        refine.append((time.perf_counter() - t0, time.process_time() - c0))
    times = times[1:] if len(times) > 2 else times  # the first also pays imports/warm-up
    cpu = cpu[1:] if len(cpu) > 2 else cpu
    return {"median": statistics.median(times), "p95": float(np.percentile(times, 95)),
            "features": t_feat, "n": len(times), "cpu": statistics.median(cpu),
            "cpu95": float(np.percentile(cpu, 95)),
            "refine": statistics.median(r[0] for r in refine[1:]),
            "refine_cpu": statistics.median(r[1] for r in refine[1:])}


def gui_latency(seconds=20.0, size=1024):
    """Event-loop lateness (10 ms QTimer) while strokes keep the instant mode busy.

    A real viewer and the Train & predict widget (needs a display, e.g. xvfb-run); a
    stroke of alternating class is painted every 1.5 s; returns the p50/p95 lateness
    (ms) of ticks during worker runs, the number of redraws and stroke-to-redraw times.
    """
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from napari_sciseg._napari.widgets.train import TrainPredictWidget
    from napari_sciseg.data.scribbles import scribbles_2d

    image, strokes = scribbles_2d(shape=(size, size), seed=1)
    viewer = napari.Viewer(show=True)
    widget = TrainPredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    viewer.add_image(image, name="img")
    layer = widget.scribbles.new_scribbles()
    comps, n = ndi.label(strokes > 0)
    layer.data = np.where(np.isin(comps, [1, 2, 3, 4]), strokes, 0).astype(np.uint8)
    widget.instant.check.setChecked(True)
    late, last, redraws, painted = [], [time.perf_counter()], [], []

    def tick():
        now = time.perf_counter()
        if widget.instant.busy:
            late.append((now - last[0]) * 1000 - 10)
        last[0] = now

    widget.instant.updated.connect(lambda: redraws.append(time.perf_counter()))
    pinger = QTimer()
    pinger.setInterval(10)
    pinger.timeout.connect(tick)
    pinger.start()
    rng = np.random.default_rng(0)
    t0, next_stroke = time.perf_counter(), time.perf_counter() + 1.0
    while time.perf_counter() - t0 < seconds:
        QApplication.processEvents()
        if time.perf_counter() >= next_stroke:
            label = 1 + len(painted) % 2
            ys, xs = np.nonzero(strokes == label)
            i = rng.integers(len(ys))
            layer.brush_size = 3
            layer.paint((ys[i], xs[i]), label)
            painted.append(time.perf_counter())
            next_stroke += 1.5
        time.sleep(0.002)
    pinger.stop()
    waits = [min((r - p for r in redraws if r > p), default=np.nan) for p in painted]
    viewer.close()
    late = np.asarray(late)
    return (float(np.percentile(late, 50)), float(np.percentile(late, 95)), len(redraws),
            float(np.nanmedian(waits)))


def _latency_line(r) -> str:
    return (f"first answer median {r['median']:.2f} s, p95 {r['p95']:.2f} s wall; CPU median "
            f"{r['cpu']:.2f} s, p95 {r['cpu95']:.2f} s; refined (every pixel) {r['refine']:.2f} s "
            f"wall / {r['refine_cpu']:.2f} s CPU; over {r['n']} strokes (features once "
            f"{r['features']:.2f} s); load {os.getloadavg()[0]:.1f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer strokes, no volume")
    ap.add_argument("--no-ensemble", action="store_true")
    ap.add_argument("--pseudo", action="store_true")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--trees", type=int, nargs="+", default=[8])
    ap.add_argument("--only-latency", action="store_true")
    ap.add_argument("--only-f1", action="store_true", help="only the F1 table")
    ap.add_argument("--only-pseudo", action="store_true",
                    help="only the pseudo-label experiment (--tasks, --seeds, --steps)")
    ap.add_argument("--tasks", nargs="+", default=["sample", "coins"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--gui", action="store_true", help="only the event-loop latency (display)")
    args = ap.parse_args()
    if args.gui:
        p50, p95, n, wait = gui_latency()
        print(f"GUI event loop while instant updates run (1024^2): tick lateness p50 {p50:.0f} "
              f"ms, p95 {p95:.0f} ms; {n} redraws, stroke -> redraw median {wait:.2f} s")
        return
    if args.only_f1:
        print(f"load average at start: {os.getloadavg()}")
        import sklearn.ensemble  # noqa: F401
        f1_table(args)
        print(f"load average at end: {os.getloadavg()}")
        return
    if args.only_pseudo:
        print(f"load average at start: {os.getloadavg()}")
        pseudo(args.steps, tasks=args.tasks, seeds=args.seeds)
        print(f"load average at end: {os.getloadavg()}")
        return
    from napari_sciseg.data.scribbles import scribbles_2d

    print(f"load average at start: {os.getloadavg()}")
    import sklearn.ensemble  # noqa: F401  (imported before any timing: seconds on a loaded disk)
    img, scr = scribbles_2d(shape=(1024, 1024), seed=1)
    for trees in args.trees:
        r = stroke_latency(img, scr, n_strokes=6 if args.quick else 12, trees=trees)
        print(f"1024^2 slice, {trees} trees: {_latency_line(r)}", flush=True)
    if not args.quick:
        from napari_sciseg.data.fibers import fiber_volume

        vol, vscr = fiber_volume(shape=(64, 512, 512), seed=0)
        z = int(np.flatnonzero(vscr.any(axis=(1, 2)))[1])
        r = stroke_latency(vol, vscr, visible=z, n_strokes=12)
        print(f"512x512x64 volume, visible slice {z}: {_latency_line(r)}", flush=True)
    if args.only_latency:
        return
    f1_table(args)


def f1_table(args):
    print("\n| image | method | F1 | features s | per stroke s (fit + predict) |")
    print("|---|---|---|---|---|")
    for name, task in (("scribble sample 512²", sample_task), ("coins (real)", coins_task)):
        image, scribbles, truth = task()
        fo, tf_o, ts_o, _ = run_forest(image, scribbles, truth)
        rf, tf_r, ts_r = run_reference(image, scribbles, truth)
        print(f"| {name} | forest (ours, 16 trees) | {fo:.3f} | {tf_o:.2f} | {ts_o:.2f} |")
        print(f"| {name} | ilastik-like RF 100 | {rf:.3f} | {tf_r:.2f} | {ts_r:.2f} |")
        fi, _, ts_i, _ = run_forest(image, scribbles, truth, trees=8, fit_pixels=2000, stride=2)
        print(f"| {name} | forest, instant answer (8 trees, 2000 px/class, stride 2) | "
              f"{fi:.3f} | {tf_o:.2f} | {ts_i:.2f} ({ts_r / ts_i:.0f}x faster) |")
        if not args.no_ensemble:
            fe, te = run_ensemble(image, scribbles, truth, steps=args.steps)
            print(f"| {name} | ensemble 5 SMSNet, {args.steps} steps | {fe:.3f} | - | "
                  f"train {te:.1f} |")
        print(f"| {name} | ratio ref/ours | {fo - rf:+.3f} | {tf_r / tf_o:.1f}x | "
              f"{ts_r / ts_o:.1f}x |")
    if args.pseudo:
        pseudo(args.steps, tasks=args.tasks, seeds=args.seeds)


def pseudo(steps, tasks=("sample", "coins"), seeds=(0, 1)):
    """F1 of the ensemble from scribbles alone vs scribbles + confident forest labels.

    Pseudo-labels: the forest's confident segmentation (mean - std > 0.5 for the
    best class, k = 1) wherever nothing is scribbled; same seeds, same steps.
    """
    print("\n| image | seed | forest | scribbles only | + forest pseudo-labels | "
          "pseudo-labelled px | pseudo-label accuracy |")
    print("|---|---|---|---|---|---|---|")
    named = {"sample": ("scribble sample 512²", sample_task), "coins": ("coins (real)", coins_task)}
    for key in tasks:
        name, task = named[key]
        image, scribbles, truth = task()
        fo, _, _, result = run_forest(image, scribbles, truth)
        labels = np.where(scribbles > 0, scribbles, result.segmentation).astype(np.uint8)
        extra = (scribbles == 0) & (labels > 0)
        acc = float(np.mean((labels[extra] == 2) == truth[extra]))
        for seed in seeds:
            a, ta = run_ensemble(image, scribbles, truth, steps=steps, seed=seed)
            b, tb = run_ensemble(image, labels, truth, steps=steps, seed=seed)
            print(f"| {name} | {seed} | {fo:.3f} | {a:.3f} ({ta:.0f} s) | {b:.3f} ({tb:.0f} s) | "
                  f"{extra.mean():.1%} | {acc:.3f} |", flush=True)


if __name__ == "__main__":
    main()
