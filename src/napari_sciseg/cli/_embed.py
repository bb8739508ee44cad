"""``sciseg embed``: tiles of images in an autoencoder's latent space.

Trains an autoencoder on the tiles of the inputs (or loads one with ``--model``),
then writes to ``-o``: ``latents.csv`` (one row per tile: image, origin, cluster,
UMAP x/y, latent values), ``embedding.png`` (the 2-D scatter, coloured by cluster)
and, when it trained one, ``autoencoder.sciseg``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import add_overwrite, collect_inputs, existing_path, positive_float, positive_int

_OUTPUTS = ("latents.csv", "embedding.png", "autoencoder.sciseg", "notes.txt")
PARAMETER_FLAGS = {"latent_size": "--latent", "tile_shape": "--tile", "n_clusters": "--clusters",
                   "kernel_size": "--kernel-size", "base_channels": "--base-channels",
                   "cluster_on": "--cluster-on"}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "embed",
        help="autoencoder latent vectors of image tiles, a 2-D UMAP and clusters",
        description="Cut the inputs into tiles, train a convolutional autoencoder on them "
        "(or use --model), and write latents.csv (one row per tile), embedding.png (UMAP "
        "scatter coloured by cluster) and autoencoder.sciseg to -o. The UMAP needs the "
        "'umap' extra (pip install 'napari-sciseg[umap]'); without it the step is skipped.",
    )
    p.add_argument("inputs", type=existing_path, nargs="+", metavar="INPUT",
                   help="image files or folders (an image the size of a tile is one tile)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument("--model", type=existing_path, default=None,
                   help="a trained autoencoder (.sciseg from an earlier 'sciseg embed')")
    p.add_argument("--tile", type=positive_int, default=None,
                   help="tile edge in pixels (default 64, or the model's)")
    p.add_argument("--stride", type=positive_int, default=None,
                   help="step between tiles (default: the tile, no overlap)")
    p.add_argument("--ndim", type=int, choices=(2, 3), default=2, help="2D or 3D tiles")
    g = p.add_argument_group("training (without --model)")
    g.add_argument("--latent", type=positive_int, default=16, help="latent size c_lat")
    g.add_argument("--depth", type=positive_int, default=4, help="levels d")
    g.add_argument("--base-channels", type=positive_int, default=16, help="c_b")
    g.add_argument("--growth-rate", type=positive_float, default=2.0, help="r")
    g.add_argument("--kernel-size", type=int, choices=(3, 5, 7), default=3)
    g.add_argument("--steps", type=positive_int, default=500)
    g.add_argument("--batch", type=positive_int, default=32)
    g.add_argument("--lr", type=positive_float, default=2e-3)
    p.add_argument("--cluster", choices=("kmeans", "hdbscan", "none"), default="kmeans")
    p.add_argument("--clusters", type=positive_int, default=4, help="k-means clusters")
    p.add_argument("--cluster-on", choices=("auto", "umap", "latent"), default="auto",
                   help="cluster the UMAP points (auto: when there is a UMAP) or the vectors")
    p.add_argument("--no-umap", action="store_true", help="skip the UMAP")
    p.add_argument("--seed", type=int, default=0)
    add_overwrite(p)
    return p


def _images(args):
    import numpy as np

    from ..io import read_image

    files = collect_inputs(args.inputs)
    images = []
    for path in files:
        data = np.asarray(read_image(path).data, np.float32)
        if data.ndim != args.ndim:
            raise ValueError(f"{path.name} has {data.ndim} axes {data.shape}; --ndim "
                             f"{args.ndim} takes single-channel {args.ndim}D images.")
        images.append(data)
    return files, images


def _run_embedding(args, images):
    from tqdm import tqdm

    from ..dl.autoencoder import load_autoencoder
    from ..dl.embedding import iter_embed_tiles

    model = load_autoencoder(args.model) if args.model is not None else None
    train_kwargs = {"latent_size": args.latent, "depth": args.depth,
                    "base_channels": args.base_channels, "growth_rate": args.growth_rate,
                    "kernel_size": args.kernel_size, "steps": args.steps,
                    "batch": args.batch, "lr": args.lr}
    tile = None if args.tile is None else (args.tile,) * args.ndim
    stride = None if args.stride is None else (args.stride,) * args.ndim
    gen = iter_embed_tiles(images, tile=tile, stride=stride, ndim=args.ndim, model=model,
                           train_kwargs=train_kwargs, umap=not args.no_umap,
                           cluster=args.cluster, n_clusters=args.clusters,
                           cluster_on=args.cluster_on, seed=args.seed)
    with tqdm(total=args.steps if model is None else 0, unit="step", leave=False,
              disable=model is not None) as bar:
        while True:
            try:
                progress = next(gen)
            except StopIteration as stop:
                return stop.value
            bar.n = progress.step
            bar.set_postfix_str(f"loss {progress.loss:.4f}")


def run(args) -> int:
    from ..io.outputs import lock_folder, write_text
    from ..io.tables import write_table
    from ..plot.latent import embedding_figure

    out = args.output
    existing = [out / n for n in _OUTPUTS if (out / n).exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"{', '.join(p.name for p in existing)} exist(s) in {out}; pass "
                              "--overwrite to replace them or choose another output folder.")
    if args.model is not None:
        from ..dl.autoencoder import load_autoencoder

        load_autoencoder(args.model)  # a segmentation model fails here, before any work
    files, images = _images(args)
    emb = _run_embedding(args, images)
    out.mkdir(parents=True, exist_ok=True)
    with lock_folder(out, command="embed"):
        write_table(out / "latents.csv", emb.table([p.name for p in files]))
        if emb.umap is not None:
            xy, names = emb.umap, ("UMAP 1", "UMAP 2")
        else:
            xy, names = emb.vectors[:, :2], ("latent 0", "latent 1")
        fig = embedding_figure(xy, clusters=emb.clusters, axis_names=names,
                               title=f"{len(xy)} tiles of {emb.tile_shape}")
        _save_png(fig, out / "embedding.png")
        if args.model is None:
            from ..dl.autoencoder import save_autoencoder

            save_autoencoder(emb.model, out / "autoencoder.sciseg")
        write_text(out / "notes.txt", "\n".join(emb.notes) + "\n")
    for note in emb.notes:
        print(note)
    print(f"wrote {len(emb.vectors)} tiles to {out / 'latents.csv'}")
    return 0


def _save_png(fig, path: Path) -> None:
    from ..io.outputs import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
