"""Autoencoder latent spaces (DLSIA section 4) and large-kernel U-Nets on particles.

Part "shapes": a convolutional autoencoder on the seeded four-shapes tiles (64 x 64,
16-d latent, 4 levels): reconstruction Pearson r on held-out tiles and the adjusted
Rand index of k-means clusters (4) against the true shapes, on the latent vectors
and on their 2-D UMAP. Targets (issue 20): r >= 0.98, ARI >= 0.8.

Part "particles": UNET7 (TUNet, 7 x 7 kernels) vs UNET3 (3 x 3) vs TUNet3+ vs an
SMSNet ensemble, trained from sparse scribbles on the plugin's synthetic
bright-field TEM particle sample (data.particles.tem_particles); Jaccard (JSC) of
the predicted particle mask on the training image and on an unseen image.

Run (one thread; the machine is shared):
    OMP_NUM_THREADS=1 python benchmarks/bench_autoencoder.py shapes --base 8 --steps 1200
    OMP_NUM_THREADS=1 python benchmarks/bench_autoencoder.py particles --steps 300
    OMP_NUM_THREADS=1 python benchmarks/bench_autoencoder.py pretrain --steps 150

Part "pretrain": a TUNet trained on few scribbles, from random weights or from the
encoder of an autoencoder trained on unlabeled images of the same kind.
Results are appended to benchmarks/results/autoencoder.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

RESULTS = Path(__file__).parent / "results" / "autoencoder.md"


def _append(lines: list[str]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    with open(RESULTS, "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n\n")
    print("\n".join(lines))


def shapes(args) -> None:
    from sklearn.metrics import adjusted_rand_score

    from napari_sciseg.classify.latent import cluster_vectors, umap_embedding
    from napari_sciseg.data.shapes import four_shapes
    from napari_sciseg.dl.autoencoder import (
        encode_tiles,
        pearson_r,
        reconstruct_tiles,
        save_autoencoder,
        train_autoencoder,
    )

    train, _ = four_shapes(args.tiles, size=64, seed=0)
    test, kinds = four_shapes(400, size=64, seed=1)
    t0 = time.perf_counter()
    ae = train_autoencoder(train, depth=4, base_channels=args.base, growth_rate=2.0,
                           latent_size=16, steps=args.steps, batch=args.batch, lr=args.lr,
                           seed=0)
    train_s = time.perf_counter() - t0
    if args.save:
        save_autoencoder(ae, args.save)
    r = pearson_r(reconstruct_tiles(ae, test), test[:, None])
    z = encode_tiles(ae, test)
    xy = umap_embedding(z, seed=0)
    ari_latent = adjusted_rand_score(kinds, cluster_vectors(z, n_clusters=4, seed=0))
    ari_umap = adjusted_rand_score(kinds, cluster_vectors(xy, n_clusters=4, seed=0))
    ari_hdb = adjusted_rand_score(kinds, cluster_vectors(xy, method="hdbscan"))
    if args.png:
        from napari_sciseg.data.shapes import SHAPES
        from napari_sciseg.plot.latent import embedding_figure

        embedding_figure(xy, clusters=kinds + 1, names=SHAPES,
                         title="UMAP of 400 held-out tiles (colour: true shape)"
                         ).savefig(args.png)
    _append([
        f"### four shapes: depth 4, c_b {args.base}, r 2, 16-d latent, {args.tiles} training "
        f"tiles, {args.steps} steps of {args.batch} (lr {args.lr})",
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} python "
        f"benchmarks/bench_autoencoder.py shapes --base {args.base} --steps {args.steps} "
        f"--batch {args.batch} --tiles {args.tiles} --lr {args.lr}`; load average before/after "
        f"{args.load0} / {os.getloadavg()[0]:.1f}",
        "",
        "| metric (400 held-out tiles) | value | target |",
        "|---|---|---|",
        f"| reconstruction Pearson r | {r:.4f} | >= 0.98 |",
        f"| ARI, k-means (4) on the 16-d latent vectors | {ari_latent:.3f} | >= 0.8 |",
        f"| ARI, k-means (4) on the 2-D UMAP | {ari_umap:.3f} | >= 0.8 |",
        f"| ARI, HDBSCAN on the 2-D UMAP | {ari_hdb:.3f} | |",
        f"| training time | {train_s:.0f} s ({ae.network.n_parameters()} parameters) | |",
    ])


def _scribbles(mask: np.ndarray, rng: np.random.Generator, fraction: float = 0.02):
    """Sparse labels from a truth mask: dots inside particles (2), patches of background (1)."""
    labels = np.zeros(mask.shape, np.uint8)
    inner = ndi.binary_erosion(mask, iterations=1)
    lab, n = ndi.label(mask)
    for i in rng.choice(np.arange(1, n + 1), size=max(1, n // 2), replace=False):
        ys, xs = np.nonzero((lab == i) & inner)
        if ys.size:
            cy, cx = int(np.median(ys)), int(np.median(xs))
            labels[max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2][
                inner[max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2]] = 2
    far = ~ndi.binary_dilation(mask, iterations=4)
    ys, xs = np.nonzero(far)
    target = int(fraction * mask.size)
    for k in rng.permutation(ys.size)[: target // 9]:
        y, x = ys[k], xs[k]
        patch = (slice(max(y - 1, 0), y + 2), slice(max(x - 1, 0), x + 2))
        labels[patch][far[patch]] = 1
    return labels


def particles(args) -> None:
    from napari_sciseg.data.particles import tem_particles
    from napari_sciseg.dl import predict, train

    shape = (args.size, args.size)
    image, truth = tem_particles("bf", shape=shape, contrast="mid", seed=3, return_truth=True)
    test, test_truth = tem_particles("bf", shape=shape, contrast="mid", seed=4,
                                     return_truth=True)
    scribbles = _scribbles(truth.mask, np.random.default_rng(0))
    runs = {
        "UNET3 (TUNet, 3x3)": ("tunet", 1, {"depth": 3, "base_channels": 16}),
        "UNET7 (TUNet, 7x7)": ("tunet", 1, {"depth": 3, "base_channels": 16,
                                            "kernel_size": 7}),
        "TUNet3+ (3x3)": ("tunet3plus", 1, {"depth": 3, "base_channels": 16}),
        "SMSNet x3": ("smsnet", 3, {}),
    }
    rows = []
    for name, (arch, members, kw) in runs.items():
        t0 = time.perf_counter()
        model = train(image, scribbles, arch=arch, members=members, steps=args.steps,
                      crop=64, batch=4, model_kwargs=kw, device="cpu", seed=0,
                      early_stopping=None)
        seconds = time.perf_counter() - t0
        scores = []
        for img, tru in ((image, truth), (test, test_truth)):
            seg = predict(model, img).segmentation == 2
            scores.append(float((seg & tru.mask).sum() / max((seg | tru.mask).sum(), 1)))
        rows.append(f"| {name} | {scores[0]:.3f} | {scores[1]:.3f} | {seconds:.0f} s |")
        print(rows[-1], flush=True)
    labelled = 100 * (scribbles > 0).mean()
    _append([
        f"### particles: TEM bright field, contrast 'mid', {args.size} px, scribbles on "
        f"{labelled:.1f}% of the pixels, {args.steps} steps, crop 64, batch 4",
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} python "
        f"benchmarks/bench_autoencoder.py particles --steps {args.steps} --size {args.size}`; "
        f"load average before/after {args.load0} / {os.getloadavg()[0]:.1f}",
        "",
        "| model | JSC, training image | JSC, unseen image | training time |",
        "|---|---|---|---|",
        *rows,
    ])


def pretrain(args) -> None:
    """Does an encoder pretrained on unlabeled images help a TUNet trained on few labels?"""
    from napari_sciseg.classify.latent import cut_tiles
    from napari_sciseg.data.particles import tem_particles
    from napari_sciseg.dl import Ensemble, ModelConfig, TrainedModel, create_model, predict, train
    from napari_sciseg.dl.autoencoder import train_autoencoder
    from napari_sciseg.dl.models.autoencoder import copy_encoder_into_tunet
    from napari_sciseg.dl.trainer import robust_range

    shape = (args.size, args.size)
    kw = {"depth": 3, "base_channels": 8, "kernel_size": 3}
    unlabeled = [tem_particles("bf", shape=shape, contrast="mid", seed=s).astype(np.float32)
                 for s in range(10, 16)]
    tiles = np.concatenate([cut_tiles(u, (64, 64), stride=(32, 32))[0] for u in unlabeled])
    t0 = time.perf_counter()
    ae = train_autoencoder(tiles, latent_size=32, steps=args.ae_steps, batch=16, lr=3e-3,
                           seed=0, **kw)
    ae_s = time.perf_counter() - t0
    image, truth = tem_particles("bf", shape=shape, contrast="mid", seed=3, return_truth=True)
    test, test_truth = tem_particles("bf", shape=shape, contrast="mid", seed=4,
                                     return_truth=True)
    rows = []
    for fraction in (0.002, 0.01):
        scribbles = _scribbles(truth.mask, np.random.default_rng(1), fraction=fraction)
        for start in ("random weights", "pretrained encoder"):
            net = create_model("tunet", ndim=2, in_channels=1, out_channels=2, seed=0, **kw)
            if start == "pretrained encoder":
                copy_encoder_into_tunet(ae.network.encoder, net)
            config = ModelConfig(arch="tunet", member_configs=[net.config], model_ndim=2,
                                 dim="2", slice_axis=0, in_channels=1, n_classes=2,
                                 normalization=robust_range(image[None].astype(np.float32)))
            init = TrainedModel(network=Ensemble([net]), config=config)
            model = train(image, scribbles, init=init, steps=args.steps, crop=64, batch=4,
                          lr=1e-3, device="cpu", seed=0, early_stopping=None)
            seg = predict(model, test).segmentation == 2
            jsc = float((seg & test_truth.mask).sum() / max((seg | test_truth.mask).sum(), 1))
            rows.append(f"| {100 * (scribbles > 0).mean():.2f}% | {start} | {jsc:.3f} |")
            print(rows[-1], flush=True)
    _append([
        f"### pretraining: TUNet (depth 3, c_b 8) from random weights vs from an encoder "
        f"pretrained ({args.ae_steps} steps, {ae_s:.0f} s) on {len(tiles)} unlabeled 64 px "
        f"tiles of 6 other TEM images; {args.steps} steps on scribbles; JSC on an unseen image",
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')} python "
        f"benchmarks/bench_autoencoder.py pretrain --steps {args.steps} --ae-steps "
        f"{args.ae_steps} --size {args.size}`; load average before/after {args.load0} / "
        f"{os.getloadavg()[0]:.1f}",
        "",
        "| labelled pixels | start | JSC, unseen image |",
        "|---|---|---|",
        *rows,
    ])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=("shapes", "particles", "pretrain"))
    p.add_argument("--ae-steps", type=int, default=300)
    p.add_argument("--base", type=int, default=8)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--tiles", type=int, default=800)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--save", default=None, help="save the autoencoder here")
    p.add_argument("--png", default=None, help="write the UMAP scatter (true shapes) here")
    args = p.parse_args()
    args.load0 = f"{os.getloadavg()[0]:.1f}"
    {"shapes": shapes, "particles": particles, "pretrain": pretrain}[args.part](args)


if __name__ == "__main__":
    main()
