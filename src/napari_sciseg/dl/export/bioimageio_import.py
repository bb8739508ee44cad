"""Import a bioimage.io package of a 2D/3D segmentation model for our tiling.

See :mod:`.bioimageio` (``load_bioimageio`` is re-exported there, which imports from here).
"""

from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ._leaks import closing_leaked_files

__all__ = ["load_bioimageio", "BioimageioNetwork"]

#: key of napari-sciseg's own block in a package's ``config`` (exported packages only).
_KEY = "napari_sciseg"

logger = logging.getLogger(__name__)


def _axis_names(ndim: int) -> tuple[str, ...]:
    return ("z", "y", "x")[-ndim:]


class BioimageioNetwork:
    """A bioimage.io model's network, run on numpy windows (stands in for our ensemble).

    The package's own weights run through ``bioimageio.core``'s model adapter;
    windows are padded (edge values, centred) to the sizes its input axes accept
    and cropped back.
    """

    runs_numpy = True

    def __init__(self, adapter, descr, *, ndim, in_channels, out_channels, receptive_field,
                 min_size, step, in_axes, out_ids, out_axes, softmax: bool, members=()):
        self.adapter, self.descr = adapter, descr
        self.ndim, self.in_channels, self.out_channels = ndim, in_channels, out_channels
        self.receptive_field = int(receptive_field)
        self.min_size, self.step = min_size, step
        self.in_axes, self.out_ids, self.out_axes = in_axes, out_ids, out_axes
        self.softmax = softmax
        self.members = list(members)

    def modules(self):
        """Member architectures, when the package is ours (what prediction inspects)."""
        return iter(self.members)

    def _to_package(self, batch: np.ndarray) -> np.ndarray:
        order = {"batch": 0, "channel": 1}
        space = _axis_names(self.ndim)
        src = []
        for a in self.in_axes:
            src.append(order.get(a, 2 + space.index(a) if a in space else None))
        missing = [i for i in range(batch.ndim) if i not in src]
        arr = np.transpose(batch, [s for s in src if s is not None] + missing)
        return arr if not missing else arr.reshape(arr.shape[: len(self.in_axes)])

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, C, *spatial)`` -> ``mean, std`` ``(B, K, *spatial)`` float32."""
        from bioimageio.core import Tensor

        batch = np.asarray(batch, np.float32)
        spatial = batch.shape[2:]
        sizes = [n if n >= self.min_size and (n - self.min_size) % self.step == 0
                 else self.min_size + -(-max(n - self.min_size, 0) // self.step) * self.step
                 for n in spatial]
        pad = [s - n for s, n in zip(sizes, spatial)]
        if any(pad):
            batch = np.pad(batch, [(0, 0), (0, 0)] + [(p // 2, p - p // 2) for p in pad],
                           mode="edge")
        means, stds = [], []
        for item in batch:  # one sample at a time: some packages fix the batch size to 1
            tensor = Tensor(self._to_package(item[None]), dims=tuple(self.in_axes))
            out = self.adapter.forward({self.descr.inputs[0].id: tensor})
            arrays = []
            for oid, axes in zip(self.out_ids, self.out_axes):
                if oid not in out:
                    continue
                a = out[oid]
                data = np.asarray(a.data if hasattr(a, "data") else a, np.float32)
                dims = [str(d) for d in getattr(a, "dims", axes)]
                want = [d for d in ("batch", "channel", *_axis_names(self.ndim)) if d in dims]
                data = np.transpose(data, [dims.index(d) for d in want])
                if "batch" not in want:
                    data = data[None]
                if "channel" not in want:
                    data = data[:, None]
                arrays.append(data[0])
            m = arrays[0]
            if self.softmax:
                e = np.exp(m - m.max(0, keepdims=True))
                m = e / e.sum(0, keepdims=True)
            if m.shape[0] == 1 and self.out_channels == 2:  # one foreground probability
                m = np.concatenate([1 - m, m])
            s = arrays[1] if len(arrays) > 1 else np.zeros_like(m)
            means.append(m)
            stds.append(s)
        mean, std = np.stack(means), np.stack(stds)
        if any(pad):
            crop = (slice(None), slice(None)) + tuple(
                slice(p // 2, p // 2 + n) for p, n in zip(pad, spatial))
            mean, std = mean[crop], std[crop]
        return np.ascontiguousarray(mean), np.ascontiguousarray(std)

    __call__ = run


def _refuse(name: str, why: str, fix: str = "") -> ValueError:
    return ValueError(f"{name}: cannot use this bioimage.io package for segmentation: {why}."
                      + (f" {fix}" if fix else ""))


def _fixed_preprocessing(descr_input, name: str):
    """A numpy function applying the input's preprocessing to (C, *spatial) windows."""
    ops = []
    for step in descr_input.preprocessing:
        op = step.id
        kw = getattr(step, "kwargs", None)
        if op == "ensure_dtype":
            continue
        if op == "scale_linear":
            gain = np.atleast_1d(np.asarray(kw.gain, np.float32))
            offset = np.atleast_1d(np.asarray(kw.offset, np.float32))
            ops.append(lambda x, g=gain, o=offset: x * g.reshape(-1, *(1,) * (x.ndim - 1))
                       + o.reshape(-1, *(1,) * (x.ndim - 1)))
        elif op == "clip":
            ops.append(lambda x, lo=kw.min, hi=kw.max: np.clip(x, lo, hi))
        elif op == "fixed_zero_mean_unit_variance":
            m = np.atleast_1d(np.asarray(kw.mean, np.float32))
            s = np.atleast_1d(np.asarray(kw.std, np.float32))
            ops.append(lambda x, m=m, s=s: (x - m.reshape(-1, *(1,) * (x.ndim - 1)))
                       / s.reshape(-1, *(1,) * (x.ndim - 1)))
        elif op in ("zero_mean_unit_variance", "scale_range"):
            logger.warning("%s: preprocessing %s uses image statistics; napari-sciseg computes "
                           "them per tile", name, op)
            if op == "zero_mean_unit_variance":
                eps = float(getattr(kw, "eps", 1e-6))
                ops.append(lambda x, e=eps: (x - x.mean()) / (x.std() + e))
            else:
                lo_p = float(getattr(kw, "min_percentile", 0.0))
                hi_p = float(getattr(kw, "max_percentile", 100.0))
                ops.append(lambda x, a=lo_p, b=hi_p: (x - np.percentile(x, a)) / max(
                    float(np.percentile(x, b) - np.percentile(x, a)), 1e-6))
        else:
            raise _refuse(name, f"its input preprocessing '{op}' is not supported",
                          "Supported: ensure_dtype, scale_linear, clip, "
                          "fixed_zero_mean_unit_variance, zero_mean_unit_variance, scale_range.")

    def normalize(x):
        x = np.asarray(x, np.float32)
        for fn in ops:
            x = fn(x)
        return x.astype(np.float32)

    return normalize


@closing_leaked_files
def load_bioimageio(path):
    """Open a bioimage.io package of a 2D/3D segmentation model for :func:`predict`.

    Parameters
    ----------
    path : str or Path
        A package folder, its ``rdf.yaml``/``bioimageio.yaml``, or a ``.zip``.

    Returns
    -------
    TrainedModel
        ``network`` is a :class:`BioimageioNetwork`; ``config`` ours when the
        package is ours, else built from the package (class names from the output
        channel names).

    Raises
    ------
    ValueError
        Not a model; a classification model; axes other than batch, channel and
        2 or 3 space axes; several inputs; no TorchScript, ONNX or
        pytorch_state_dict weights.
    """
    from bioimageio.core import create_model_adapter

    path = Path(path)
    name = path.name
    descr = _load_model_descr(path)
    inp, in_ids, space_ids, seg = _check_axes(descr, name)
    _input_sizes(inp, name)  # refuses fixed-size axes before any weights are loaded
    formats = [f for f in ("torchscript", "onnx", "pytorch_state_dict")
               if getattr(descr.weights, f, None) is not None]
    if not formats:
        raise _refuse(name, "it has no TorchScript, ONNX or pytorch_state_dict weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adapter = create_model_adapter(descr, devices=["cpu"],
                                       weight_format_priority_order=formats)
        adapter.load()
    ordered = sorted(seg, key=lambda o: {"mean": 0, "std": 1}.get(str(o.id), 2))
    ours = (descr.config.model_extra or {}).get(_KEY) if descr.config else None
    if ours:
        trained = _our_package(adapter, descr, ours, in_ids, ordered)
    else:
        trained = _foreign_package(adapter, descr, path, inp, in_ids, ordered, formats,
                                   n_space=len(space_ids))
    trained.normalize = _fixed_preprocessing(inp, name)  # the package's (for ours = ours)
    if isinstance(descr.root, zipfile.ZipFile):  # weights are loaded: release the .zip
        descr.root.close()
    return trained


def _load_model_descr(path: Path):
    """The package's model description, updated to spec 0.5, or a refusal saying why not."""
    from bioimageio.spec import InvalidDescr, load_description
    from bioimageio.spec.model import v0_5 as bio

    name, source = path.name, path
    if path.is_dir():
        source = next(p for p in (path / "rdf.yaml", path / "bioimageio.yaml") if p.is_file())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        descr = load_description(source, format_version="latest", perform_io_checks=False)
    if isinstance(descr, InvalidDescr):
        errors = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}"
                           for e in descr.validation_summary.errors[:3])
        raise _refuse(name, f"the package does not validate ({errors})")
    if getattr(descr, "type", None) != "model":
        raise _refuse(name, f"it describes a {getattr(descr, 'type', 'resource')}, not a model")
    if not isinstance(descr, bio.ModelDescr):
        raise _refuse(name, f"spec {descr.format_version} could not be updated to 0.5")
    if len(descr.inputs) != 1:
        raise _refuse(name, f"it takes {len(descr.inputs)} input tensors; one image is supported")
    return descr


def _check_axes(descr, name: str):
    """(input, its axis ids, its space axis ids, the outputs that are images) or a refusal."""
    inp = descr.inputs[0]
    in_types = [a.type for a in inp.axes]
    in_ids = [str(a.id) for a in inp.axes]
    bad = [f"{a.id} ({a.type})" for a in inp.axes if a.type not in ("batch", "channel", "space")]
    n_space = in_types.count("space")
    if bad or n_space not in (2, 3):
        raise _refuse(name, f"unsupported input axes {in_ids} (types {in_types})",
                      "napari-sciseg runs models whose input axes are batch, channel and 2 or 3 "
                      "space axes (y, x or z, y, x).")
    space_ids = [str(a.id) for a in inp.axes if a.type == "space"]
    if space_ids != list(_axis_names(n_space)):
        raise _refuse(name, f"space axes {space_ids}; expected {list(_axis_names(n_space))}")
    seg = [o for o in descr.outputs
           if [str(a.id) for a in o.axes if a.type == "space"] == space_ids]
    if not seg:
        kinds = ", ".join(f"{o.id}: {[str(a.id) for a in o.axes]}" for o in descr.outputs)
        raise _refuse(name, f"it looks like a classification model: no output has the input's "
                      f"space axes {space_ids} ({kinds})",
                      "Only models that output an image (per-pixel classes) can segment.")
    for o in seg:
        extra = [str(a.id) for a in o.axes if a.type not in ("batch", "channel", "space")]
        if extra:
            raise _refuse(name, f"output {o.id} has unsupported axes {extra}")
    return inp, in_ids, space_ids, seg


def _input_sizes(inp, name: str) -> tuple[int, int]:
    """(minimum, step) of the sizes the input's space axes accept."""
    from bioimageio.spec.model import v0_5 as bio

    min_size, step = 1, 1
    for a in inp.axes:
        if a.type != "space":
            continue
        size = a.size
        if isinstance(size, bio.ParameterizedSize):
            min_size, step = max(min_size, size.min), int(np.lcm(step, size.step))
        elif isinstance(size, int):
            raise _refuse(name, f"input axis {a.id} has a fixed size {size}",
                          "Tiled prediction needs axes whose size can vary.")
    return min_size, step


def _our_package(adapter, descr, ours: dict, in_ids, ordered):
    """A package napari-sciseg exported: our config, the ensemble's mean and std outputs."""
    from ..config import ModelConfig, TrainedModel

    config = ModelConfig.from_dict(ours["config"])
    multiple = int(ours.get("size_multiple", _input_sizes(descr.inputs[0], "")[1]))
    members = [type("Member", (), {"arch": c.get("arch", config.arch)})()
               for c in config.member_configs]
    network = BioimageioNetwork(
        adapter, descr, ndim=config.model_ndim, in_channels=config.in_channels,
        out_channels=config.n_classes, receptive_field=ours["receptive_field"],
        # our networks take any window (U-Nets: a multiple, padded as they pad
        # themselves); the package's minimum only keeps its halo inside the output
        min_size=multiple, step=multiple, in_axes=in_ids, out_ids=[o.id for o in ordered[:2]],
        out_axes=[[str(a.id) for a in o.axes] for o in ordered[:2]], softmax=False,
        members=members)
    return TrainedModel(network=network, config=config)


def _foreign_package(adapter, descr, path: Path, inp, in_ids, ordered, formats, *, n_space):
    """Another tool's package: a config built from its axes, channel names and halo."""
    from ..config import ModelConfig, TrainedModel

    name = path.name
    min_size, step = _input_sizes(inp, name)
    halo = max((int(getattr(a, "halo", 0) or 0) for o in ordered for a in o.axes), default=0)
    in_ch = next((len(a.channel_names) for a in inp.axes if a.type == "channel"), 1)
    out_ch = next((len(a.channel_names) if hasattr(a, "channel_names") else 1
                   for a in ordered[0].axes if a.type == "channel"), 1)
    post = [p.id for p in ordered[0].postprocessing]
    has_prob = any(p in ("softmax", "sigmoid") for p in post)
    n_classes = 2 if out_ch == 1 else out_ch
    names = next((list(a.channel_names) for a in ordered[0].axes if a.type == "channel"
                  and hasattr(a, "channel_names") and out_ch > 1), None)
    if halo == 0:
        logger.warning("%s: the package states no halo; tiles are predicted without overlap "
                       "context (seams possible); pass a tile larger than the image to avoid them",
                       name)
    network = BioimageioNetwork(
        adapter, descr, ndim=n_space, in_channels=in_ch, out_channels=n_classes,
        receptive_field=halo, min_size=min_size, step=step, in_axes=in_ids,
        out_ids=[ordered[0].id], out_axes=[[str(a.id) for a in ordered[0].axes]],
        softmax=out_ch > 1 and not has_prob)
    config = ModelConfig(
        arch=f"bioimageio:{descr.name}"[:80], member_configs=[], model_ndim=n_space,
        dim=str(n_space), slice_axis=0, in_channels=in_ch, n_classes=n_classes,
        class_names=tuple(names or ([] if out_ch > 1 else ["background", "foreground"])),
        class_colors=(), normalization=tuple((0.0, 1.0) for _ in range(in_ch)),
        recipe={"source": str(path), "bioimageio_name": descr.name,
                "weights": formats[0], "postprocessing": [str(p) for p in post]},
    )
    return TrainedModel(network=network, config=config)
