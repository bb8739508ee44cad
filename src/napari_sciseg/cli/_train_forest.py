"""``sciseg train --arch forest``: the instant pixel forest, trained in seconds.

The forest splits on a fixed multi-scale filter bank (σ in the image's physical
units when the file is calibrated); the model file is a ``.sciseg`` like the
ensembles', and ``sciseg predict`` runs it with the same outputs.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    """Forest options, shown in ``sciseg train --help`` (ignored by the ensembles)."""
    g = p.add_argument_group("--arch forest (the instant pixel forest)")
    g.add_argument("--trees", type=int, default=16, help="trees in the forest (default 16)")
    g.add_argument("--max-depth", type=int, default=12, help="tree depth (default 12)")
    g.add_argument("--sigmas", type=float, nargs="+", default=None, metavar="SIGMA",
                   help="filter scales in the image's units (nm when calibrated, else "
                   "pixels); default 0.5 1 2 4 8 pixels of the finest axis")


def run_forest(args, image, labels) -> int:
    """Train, save and report; ``image``/``labels`` are the files as read by the CLI."""
    import time

    import numpy as np

    from ..classify.forest_engine import iter_train_forest
    from ..classify.forest_io import save_forest

    if args.trees < 1:
        raise ValueError(f"--trees must be at least 1; got {args.trees}.")
    data = np.asarray(image.data)
    channel_axis = image.channel_axis
    n_spatial = data.ndim - (channel_axis is not None)
    spacing = getattr(image, "spacing", None)
    if spacing is not None and len(spacing) != n_spatial:
        spacing = None
    start = time.perf_counter()
    gen = iter_train_forest(
        data, np.asarray(labels.data), dim=args.dim, slice_axis=args.slice_axis,
        sigmas=args.sigmas, spacing=spacing, channel_axis=channel_axis, trees=args.trees,
        max_depth=args.max_depth, seed=args.seed, class_names=tuple(args.class_names or ()),
    )
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        forest = stop.value
    path = save_forest(forest, args.output)
    cfg = forest.config
    unit = "nm" if cfg.spacing is not None else "px"
    print(f"forest of {forest.n_trees} trees on {cfg.n_features} features (σ "
          f"{', '.join(f'{s:g}' for s in cfg.sigmas)} {unit}), {cfg.metrics['train_pixels']} "
          f"scribbled pixels, {time.perf_counter() - start:.1f} s -> {path}")
    return 0
