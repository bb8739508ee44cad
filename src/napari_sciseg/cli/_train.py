"""``sciseg train``: train an ensemble on sparse labels and save it.

    sciseg train IMAGE LABELS -o MODEL.sciseg [--arch smsnet|tunet|tunet3plus|msdnet]
                 [--kernel-size 3|5|7] [--members N]
                 [--steps N] [--dim 2|2.5|3] [--loss ce+dice] [--seed N] [--device auto]
                 [--checkpoint-minutes M | --checkpoint-every N] [--resume CHECKPOINT]
    sciseg train IMAGE --task inpainting --mask GAPS -o MODEL.sciseg [--log-counts]
    sciseg train IMAGE --task denoising [--clean CLEAN] -o MODEL.sciseg

LABELS is an integer image of the same spatial shape (0 = unlabeled, 1..K =
classes), e.g. a napari Labels layer saved as TIFF. The restoration tasks
(``--task inpainting|denoising``, :mod:`._train_restore`) take no LABELS.

Ctrl-C (or SIGTERM) stops after the current step and saves the members trained so
far to the model file plus a checkpoint (``MODEL.sciseg.ckpt``) that ``--resume``
continues; a second Ctrl-C aborts at once. Checkpoints are also written every
``--checkpoint-minutes`` (default 10) and removed when the training completes.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

from ._common import (
    add_overwrite,
    add_threads,
    existing_path,
    json_object,
    non_negative_int,
    positive_float,
    positive_int,
)
from ._train_progress import Interrupts as _Interrupts
from ._train_progress import run_loop, summary

#: recipe settings a resumed run takes from its checkpoint, with the flag that sets them
_RECIPE_FLAGS = {"arch": "--arch", "members": "--members", "steps": "--steps",
                 "dim": "--dim", "slice_axis": "--slice-axis", "loss": "--loss",
                 "crop": "--crop", "batch": "--batch", "lr": "--lr",
                 "model_kwargs": "--model-kwargs", "seed": "--seed"}
#: defaults of those flags (None: not given), to tell which were set on the command line
_DEFAULTS = {"arch": "smsnet", "members": None, "steps": 200, "dim": None, "slice_axis": 0,
             "loss": None, "crop": None, "batch": 2, "lr": None, "model_kwargs": None, "seed": 0}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train",
        help="train a segmentation ensemble on sparse labels (scribbles)",
        description="Train an ensemble (SMSNets by default) on an image and a sparse label "
        "image (0 = unlabeled, 1..K = classes) and save it as a .sciseg model file. "
        "Ctrl-C saves the members trained so far and a checkpoint to --resume from.",
    )
    p.add_argument("image", type=existing_path,
                   help="the image (TIFF or any format the reader handles)")
    p.add_argument("labels", type=existing_path, nargs="?", default=None,
                   help="sparse labels, same spatial shape as IMAGE (segmentation)")
    p.add_argument("-o", "--output", type=Path, required=True, help="model file (.sciseg)")
    p.add_argument("--arch", choices=("smsnet", "tunet", "tunet3plus", "msdnet", "forest"),
                   default=_DEFAULTS["arch"],
                   help="ensemble member architecture (tunet3plus: U-Net with full-scale "
                   "skips), or 'forest': the instant pixel forest")
    p.add_argument("--kernel-size", type=int, choices=(3, 5, 7), default=None,
                   help="convolution size of --arch tunet / tunet3plus (7: 'UNET7')")
    p.add_argument("--members", type=positive_int, default=_DEFAULTS["members"],
                   help="ensemble size (default 5; 3 with --dim 3)")
    p.add_argument("--steps", type=positive_int, default=_DEFAULTS["steps"],
                   help="optimizer steps (default 200)")
    p.add_argument("--dim", choices=("2", "2.5", "3"), default=None,
                   help="2D image, 2D model on slices of a volume, or 3D model "
                   "(default: 2 for images, 2.5 for volumes)")
    p.add_argument("--slice-axis", type=int, default=_DEFAULTS["slice_axis"],
                   help="slice axis for --dim 2.5")
    p.add_argument("--loss", default=_DEFAULTS["loss"],
                   help="ce, dice, focal, tversky or sums like ce+dice (default ce); "
                   "restoration: l1, l2 or huber (default l1)")
    p.add_argument("--crop", type=positive_int, default=_DEFAULTS["crop"],
                   help="patch size (default 64; 32 with --dim 3)")
    p.add_argument("--batch", type=positive_int, default=_DEFAULTS["batch"],
                   help="patches per member and step")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default per arch)")
    p.add_argument("--model-kwargs", type=json_object, default=None, metavar="JSON",
                   help='architecture options as JSON, e.g. \'{"depth": 10, "width": 4}\'')
    p.add_argument("--class-names", nargs="+", default=None, metavar="NAME")
    p.add_argument("--seed", type=non_negative_int, default=_DEFAULTS["seed"])
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    add_threads(p)
    p.add_argument("--checkpoint", type=Path, default=None, metavar="PATH",
                   help="checkpoint file (default: OUTPUT.ckpt)")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0, metavar="M",
                   help="write a checkpoint every M minutes of training (default 10; 0: off)")
    p.add_argument("--checkpoint-every", type=positive_int, default=None, metavar="N",
                   help="also write a checkpoint every N steps")
    p.add_argument("--resume", type=existing_path, default=None, metavar="CHECKPOINT",
                   help="continue the training saved in CHECKPOINT (same IMAGE and LABELS; "
                   "its settings are used)")
    add_overwrite(p, help="overwrite an existing model file")
    from ._train_forest import add_arguments
    from ._train_restore import add_arguments as add_task_arguments

    add_arguments(p)
    add_task_arguments(p)
    return p


def _read(path: Path):
    from ..io import read_image

    return read_image(path)


def _was_interrupted(path: Path) -> bool:
    """True for a model file an interrupted ``sciseg train`` wrote (it may be replaced)."""
    try:
        with zipfile.ZipFile(path) as zf:
            header = json.loads(zf.read("config.json"))
        return header["config"]["metrics"].get("stopped") == "cancelled"
    except (OSError, KeyError, ValueError, TypeError, AttributeError, zipfile.BadZipFile):
        return False


def _recipe(args, n_spatial: int):
    """The run's TrainRecipe: from the flags, or from the checkpoint with ``--resume``."""
    from ..dl.checkpoint import load_checkpoint
    from ..dl.recipe import TrainRecipe, defaults_for

    dim = args.dim or ("2" if n_spatial == 2 else "2.5")
    default = defaults_for(dim, args.arch)  # 3D: fewer, smaller members on smaller crops
    recipe = TrainRecipe(
        arch=args.arch, members=args.members or default["members"], steps=args.steps, dim=dim,
        slice_axis=args.slice_axis, loss=args.loss, seed=args.seed,
        model_kwargs={**default["model_kwargs"], **(_model_kwargs(args) or {})},
        crop=args.crop or default["crop"], batch=args.batch, lr=args.lr)
    if args.resume is None:
        return recipe, None
    ckpt = load_checkpoint(args.resume)
    saved = ckpt.recipe
    for field, flag in _RECIPE_FLAGS.items():
        given = getattr(args, field)
        if given is None or given == _DEFAULTS[field]:
            continue  # not set on the command line: the checkpoint's value holds
        if getattr(recipe, field) != getattr(saved, field):
            raise ValueError(f"{flag} {given} differs from the checkpoint's "
                             f"{getattr(saved, field)!r} ({args.resume}); leave it out to "
                             "resume with the checkpoint's settings.")
    return saved, ckpt


def _model_kwargs(args) -> dict | None:
    """--model-kwargs with --kernel-size merged in (U-Nets only)."""
    if args.kernel_size is None:
        return args.model_kwargs
    if args.arch not in ("tunet", "tunet3plus"):
        raise ValueError(f"--kernel-size applies to --arch tunet and tunet3plus; got --arch "
                         f"{args.arch} (leave --kernel-size out).")
    kwargs = dict(args.model_kwargs or {})
    if kwargs.get("kernel_size", args.kernel_size) != args.kernel_size:
        raise ValueError(f"--kernel-size {args.kernel_size} and --model-kwargs kernel_size "
                         f"{kwargs['kernel_size']} differ; give one of them.")
    kwargs["kernel_size"] = args.kernel_size
    return kwargs


def run(args) -> int:
    with _Interrupts() as interrupts:
        return _train(args, interrupts)


def _train(args, interrupts: _Interrupts) -> int:
    from ._train_restore import check_task_arguments, run_restore

    check_task_arguments(args)
    if args.output.exists() and not args.overwrite and not (  # before the heavy imports
            args.resume is not None and _was_interrupted(args.output)):
        raise FileExistsError(f"{args.output} exists; pass --overwrite to replace it.")
    import numpy as np

    from ..dl import save_model
    from ..dl.checkpoint import Checkpointer
    from ..dl.threads import configure_threads
    from ..dl.training import iter_train_recipe

    configure_threads(args.threads)
    if args.task != "segmentation":
        return run_restore(args, _read(args.image), interrupts, _DEFAULTS)
    image, labels = _read(args.image), _read(args.labels)
    if args.arch == "forest":
        from ._train_forest import run_forest

        return run_forest(args, image, labels)
    data = np.asarray(image.data)
    n_spatial = data.ndim - (image.channel_axis is not None)
    recipe, ckpt = _recipe(args, n_spatial)
    ck_path = args.checkpoint or args.output.with_name(args.output.name + ".ckpt")
    minutes = args.checkpoint_minutes
    checkpointer = Checkpointer(ck_path, every_steps=args.checkpoint_every,
                                every_s=minutes * 60 if minutes and minutes > 0 else None)
    gen = iter_train_recipe(
        data, np.asarray(labels.data), recipe, device=args.device,
        channel_axis=image.channel_axis, class_names=args.class_names,
        cancel=interrupts.event, checkpoint=checkpointer, resume=ckpt)
    try:
        model = run_loop(gen, str(recipe.arch))
    except KeyboardInterrupt:
        kept = (f"; the last checkpoint ({checkpointer.path}, step {checkpointer.last_step}) "
                "can be resumed with --resume" if checkpointer.saved else "")
        print(f"sciseg train: aborted; the model was not saved{kept}", file=sys.stderr)
        return 130
    steps_done = model.config.metrics.get("steps_done", 0)
    if model.config.metrics.get("stopped") == "cancelled":
        return _interrupted(args, model, checkpointer, steps_done, interrupts.exit_code)
    path = save_model(model, args.output)
    resumed_here = args.resume is not None and args.resume.resolve() == ck_path.resolve()
    if checkpointer.saved or resumed_here:
        ck_path.unlink(missing_ok=True)  # the run completed: its checkpoint is spent
    print(summary(model, path))
    return 0


def _interrupted(args, model, checkpointer, steps_done: int, code: int) -> int:
    from ..dl import save_model

    total = model.config.recipe.get("steps")
    if steps_done == 0:
        print("sciseg train: interrupted before the first training step; nothing was saved.",
              file=sys.stderr)
        return code
    path = save_model(model, args.output)
    print(f"sciseg train: interrupted at step {steps_done} of {total}: saved the "
          f"{len(model.network.members)} members trained so far to {path} and a checkpoint to "
          f"{checkpointer.path}.\n{summary(model, path)}\nContinue with: sciseg train "
          f"{args.image} {args.labels} -o {args.output} --resume {checkpointer.path}",
          file=sys.stderr)
    return code

