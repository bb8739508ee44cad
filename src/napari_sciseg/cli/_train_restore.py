"""``sciseg train --task inpainting|denoising``: restoration networks, trained and saved.

    sciseg train IMAGE --task inpainting --mask GAPS.tif -o gaps.sciseg [--log-counts]
    sciseg train IMAGE --task denoising [--clean CLEAN.tif] -o denoise.sciseg

Inpainting learns from the image itself: copies of the mask (non-zero = missing,
e.g. a detector's module gaps) are moved onto known pixels and the network learns to
fill them. Denoising is self-supervised (Noise2Self) unless ``--clean`` gives a clean
image of the same shape. ``sciseg predict`` applies the task stored in the model.
"""

from __future__ import annotations

import sys

#: the CLI's task words -> the engine's tasks
TASKS = {"segmentation": "segment", "inpainting": "inpaint", "denoising": "denoise"}


def add_arguments(p) -> None:
    """Task options, shown in ``sciseg train --help``."""
    from ._common import existing_path

    g = p.add_argument_group("restoration (--task inpainting or denoising)")
    g.add_argument("--task", choices=tuple(TASKS), default="segmentation",
                   help="what to learn (default segmentation; LABELS is for segmentation)")
    g.add_argument("--mask", type=existing_path, default=None, metavar="MASK",
                   help="inpainting: image of the missing pixels (non-zero = missing), "
                   "same shape as IMAGE")
    g.add_argument("--clean", type=existing_path, default=None, metavar="CLEAN",
                   help="denoising: a clean image of the same shape (paired); without it "
                   "training is self-supervised")
    g.add_argument("--log-counts", action="store_true",
                   help="learn on log(1 + counts) (data spanning decades, e.g. scattering)")


def check_task_arguments(args) -> None:
    """Flags that do not fit the task, before anything is read (clear errors)."""
    task = args.task
    if task == "segmentation":
        if args.labels is None:
            raise ValueError("segmentation needs LABELS (sparse labels, 0 = unlabeled); for "
                             "restoration pass --task inpainting or --task denoising.")
        for flag, value in (("--mask", args.mask), ("--clean", args.clean)):
            if value is not None:
                raise ValueError(f"{flag} is for --task inpainting/denoising; segmentation "
                                 "takes LABELS.")
        return
    if args.labels is not None:
        raise ValueError(f"--task {task} takes no LABELS ({args.labels}); "
                         + ("pass the missing pixels with --mask." if task == "inpainting"
                            else "pass a clean image with --clean, or nothing."))
    if task == "inpainting" and args.mask is None:
        raise ValueError("--task inpainting needs --mask (an image of the missing pixels, "
                         "non-zero = missing, e.g. the detector's gap mask).")
    if task == "inpainting" and args.clean is not None:
        raise ValueError("--clean is for --task denoising; inpainting learns from IMAGE.")
    if task == "denoising" and args.mask is not None:
        raise ValueError("--mask is for --task inpainting; denoising takes --clean or nothing.")
    if args.resume is not None or args.arch == "forest":
        raise ValueError(f"--task {task} trains networks without checkpoints: --resume and "
                         "--arch forest are for segmentation.")


def _settings(args, defaults: dict) -> dict:
    """Training settings from the flags; flags left at their (segmentation) ``defaults``
    give way to the restoration defaults (``dl.restore.REGRESSION_DEFAULTS``)."""
    settings = {}
    for name in ("arch", "members", "steps", "crop", "batch", "lr", "model_kwargs", "seed",
                 "loss"):
        value = getattr(args, name)
        if value is not None and value != defaults[name]:
            settings[name] = value
    settings["steps"] = args.steps
    settings["seed"] = args.seed
    if args.dim is not None:
        settings["dim"] = args.dim
    settings["transform"] = "log1p" if args.log_counts else "none"
    return settings


def run_restore(args, image, interrupts, defaults: dict) -> int:
    """Train, save and report a restoration model; ``image`` as read by the CLI,
    ``defaults`` the segmentation defaults of the shared flags."""
    import numpy as np

    from ..dl import save_model
    from ..dl.restore import iter_train_denoising, iter_train_inpainting
    from ..io import read_image
    from ._train_progress import run_loop

    data = np.asarray(image.data)
    kw = dict(device=args.device, channel_axis=image.channel_axis, cancel=interrupts.event,
              **_settings(args, defaults))
    if args.task == "inpainting":
        mask = np.asarray(read_image(args.mask).data) != 0
        gen = iter_train_inpainting(data, mask, **kw)
    else:
        clean = None if args.clean is None else np.asarray(read_image(args.clean).data)
        gen = iter_train_denoising(data, clean, **kw)
    model = run_loop(gen, f"{args.task} {kw.get('arch', 'tunet')}", score="val r")
    metrics = model.config.metrics
    if metrics.get("stopped") == "cancelled" and metrics.get("steps_done", 0) == 0:
        print("sciseg train: interrupted before the first training step; nothing was saved.",
              file=sys.stderr)
        return interrupts.exit_code
    path = save_model(model, args.output)
    r = metrics.get("val_r")
    scored = f"validation r {r:.4f}" if r is not None else "no validation"
    stopped = " (interrupted)" if metrics.get("stopped") == "cancelled" else ""
    print(f"{args.task}{stopped}: {scored} (validation loss "
          f"{metrics.get('val_loss') or float('nan'):.4f}, {metrics.get('steps_done')} steps, "
          f"{len(model.network.members)} members) -> {path}")
    return interrupts.exit_code if stopped else 0
