"""``sciseg train``: train an ensemble on sparse labels and save it.

    sciseg train IMAGE LABELS -o MODEL.sciseg [--arch smsnet|tunet|msdnet] [--members N]
                 [--steps N] [--dim 2|2.5|3] [--loss ce+dice] [--seed N] [--device auto]

LABELS is an integer image of the same spatial shape (0 = unlabeled, 1..K =
classes), e.g. a napari Labels layer saved as TIFF.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import (
    add_overwrite,
    existing_path,
    json_object,
    non_negative_int,
    positive_float,
    positive_int,
)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a segmentation ensemble on sparse labels (scribbles)",
        description="Train an ensemble (SMSNets by default) on an image and a sparse label "
        "image (0 = unlabeled, 1..K = classes) and save it as a .sciseg model file.",
    )
    p.add_argument("image", type=existing_path,
                   help="the image (TIFF or any format the reader handles)")
    p.add_argument("labels", type=existing_path, help="sparse labels, same spatial shape as IMAGE")
    p.add_argument("-o", "--output", type=Path, required=True, help="model file (.sciseg)")
    p.add_argument("--arch", choices=("smsnet", "tunet", "msdnet"), default="smsnet")
    p.add_argument("--members", type=positive_int, default=5, help="ensemble size (default 5)")
    p.add_argument("--steps", type=positive_int, default=200, help="optimizer steps (default 200)")
    p.add_argument("--dim", choices=("2", "2.5", "3"), default=None,
                   help="2D image, 2D model on slices of a volume, or 3D model "
                   "(default: 2 for images, 2.5 for volumes)")
    p.add_argument("--slice-axis", type=int, default=0, help="slice axis for --dim 2.5")
    p.add_argument("--loss", default="ce", help="ce, dice, focal, tversky or sums like ce+dice")
    p.add_argument("--crop", type=positive_int, default=64, help="patch size (default 64)")
    p.add_argument("--batch", type=positive_int, default=2, help="patches per member and step")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default per arch)")
    p.add_argument("--model-kwargs", type=json_object, default=None, metavar="JSON",
                   help='architecture options as JSON, e.g. \'{"depth": 10, "width": 4}\'')
    p.add_argument("--class-names", nargs="+", default=None, metavar="NAME")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    add_overwrite(p, help="overwrite an existing model file")
    return p


def _read(path: Path):
    try:
        from ..io import read_image
    except ImportError:  # pragma: no cover - older trees without the dispatcher
        from ..io.tiff import read_tiff as read_image
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file.")
    return read_image(path)


def run(args) -> int:
    if args.output.exists() and not args.overwrite:  # before the heavy imports
        raise FileExistsError(f"{args.output} exists; pass --overwrite to replace it.")
    import numpy as np
    from tqdm import tqdm

    from ..dl import iter_train, save_model

    image = _read(args.image)
    labels = _read(args.labels)
    data = np.asarray(image.data)
    channel_axis = image.channel_axis
    n_spatial = data.ndim - (channel_axis is not None)
    dim = args.dim or ("2" if n_spatial == 2 else "2.5")
    gen = iter_train(
        data, np.asarray(labels.data), arch=args.arch, members=args.members, steps=args.steps,
        dim=dim, slice_axis=args.slice_axis, loss=args.loss, seed=args.seed,
        device=args.device, channel_axis=channel_axis, class_names=args.class_names,
        model_kwargs=args.model_kwargs, crop=args.crop, batch=args.batch, lr=args.lr,
    )
    bar = None
    try:
        while True:
            p = next(gen)
            if bar is None:
                print(p.device)
                bar = tqdm(total=p.total_steps, unit="step", desc=f"train {args.arch}")
            bar.update(p.step - bar.n)
            post = {"loss": f"{p.loss:.3f}"}
            if p.val_score is not None:
                post["val F1"] = f"{p.val_score:.3f}"
            bar.set_postfix(post, refresh=False)
    except StopIteration as stop:
        model = stop.value
    finally:
        if bar is not None:
            bar.close()
    path = save_model(model, args.output)
    m = model.config.metrics
    score = m.get("val_f1")
    scored = f"validation F1 {score:.3f}" if score is not None else "no validation pixels"
    print(f"{scored} (validation loss {m.get('val_loss') or float('nan'):.3f}, "
          f"{m.get('steps_done')} steps, {len(model.network.members)} members) -> {path}")
    return 0
