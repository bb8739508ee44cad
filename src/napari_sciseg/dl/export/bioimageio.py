"""bioimage.io model packages (spec 0.5): export our ensembles, import 2D/3D segmentation models.

**Export** (:func:`export_bioimageio`): one input tensor ``raw`` (batch,
channel, [z,] y, x) with our normalisation as a ``scale_linear``
preprocessing step; two outputs, ``mean`` and ``std`` (the per-class mean
softmax probability of the members and their standard deviation), whose
spatial axes carry the receptive field as halo; TorchScript and/or ONNX
weights of the whole ensemble; test tensors computed by
:func:`~napari_sciseg.dl.prediction.predict` (a ``.sciseg`` stores no training
image: the test input is the user's image when given, else a deterministic
synthetic one, and the package's description says which); a cover image,
class names, the training recipe in the description, licence and citations.
The package is validated by ``bioimageio.spec`` when written and, unless
``test=False``, tested by ``bioimageio.core`` (which reruns the test tensors);
the largest difference between bioimage.io's prediction and ours on the test
input is returned.

**Import** (:func:`load_bioimageio`): a package of a 2D/3D segmentation
model (TorchScript, ONNX or pytorch_state_dict weights; axes batch?, channel?,
2 or 3 space axes) becomes a model that :func:`predict` runs through our
tiling. Packages we exported keep their exact configuration. Classification
models (outputs without space axes) and other axes are refused with a message
that says why. Nothing is downloaded: only local folders, ``rdf.yaml`` files
and zips are read.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._leaks import closing_leaked_files
from .bioimageio_import import _KEY, BioimageioNetwork, _axis_names, load_bioimageio

__all__ = ["export_bioimageio", "load_bioimageio", "BioimageioExport", "BioimageioNetwork"]

logger = logging.getLogger(__name__)

#: citations by architecture: (text, DOI or None, URL or None). The DLSIA entry cites the authors'
#: arXiv preprint (the one the DLSIA authors link from their own model cards); its journal DOI
#: could not be verified from our sources, so none is written.
_CITATIONS = {
    "smsnet": ("Roberts, Chavez, Hexemer & Zwart. DLSIA: Deep Learning for Scientific Image "
               "Analysis. arXiv:2308.02559 (J. Appl. Cryst. 2024)", None,
               "https://arxiv.org/abs/2308.02559"),
    "msdnet": ("Pelt & Sethian (2018). A mixed-scale dense convolutional neural network for "
               "image analysis. PNAS 115(2), 254-259", "10.1073/pnas.1715832114", None),
    "tunet": ("Ronneberger, Fischer & Brox (2015). U-Net: Convolutional Networks for "
              "Biomedical Image Segmentation. MICCAI", "10.1007/978-3-319-24574-4_28", None),
}
_WEIGHTS = ("torchscript", "onnx")
@dataclass(frozen=True)
class BioimageioExport:
    """What :func:`export_bioimageio` wrote.

    Attributes
    ----------
    path : Path
        The package (folder or ``.zip``).
    format_version : str
        The spec version written (0.5.x).
    weights : tuple of str
        Weight formats in the package.
    test_input_source : str
        Where the test input comes from (said in the package too).
    test_summary : str or None
        ``bioimageio.core``'s test verdict per weight format (None when not tested).
    max_difference : float or None
        Largest difference between bioimageio.core's prediction on the test input
        and :func:`predict`'s (None when not tested).
    """

    path: Path
    format_version: str
    weights: tuple
    test_input_source: str
    test_summary: str | None
    max_difference: float | None


# ------------------------------------------------------------------ export


def _min_size(receptive_field: int, multiple: int) -> int:
    size = 2 * receptive_field + 1
    return -(-size // multiple) * multiple


def _valid_size(n: int, min_size: int, step: int) -> int:
    if n <= min_size:
        return min_size
    return min_size + ((n - min_size) // step) * step


def _test_input(trained, image, size: int, min_size: int, step: int):
    """(C, *spatial) float32 raw test input and a sentence saying where it comes from."""
    cfg = trained.config
    ndim = int(cfg.model_ndim)
    size = _valid_size(max(size, min_size), min_size, step)
    if image is not None:
        image = np.asarray(image, np.float32)
        if cfg.in_channels == 1 and image.ndim == ndim:
            image = image[None]
        if image.ndim != ndim + 1 or image.shape[0] != cfg.in_channels:
            raise ValueError(
                f"the test image must be {ndim}D with {cfg.in_channels} channel(s) first; got "
                f"shape {image.shape}."
            )
        if min(image.shape[1:]) < min_size:
            raise ValueError(f"the test image must be at least {min_size} pixels per axis; got "
                             f"{image.shape[1:]}.")
        edges = [_valid_size(min(size, n), min_size, step) for n in image.shape[1:]]
        starts = [(n - e) // 2 for n, e in zip(image.shape[1:], edges)]
        crop = image[(slice(None),) + tuple(slice(s, s + e) for s, e in zip(starts, edges))]
        return np.ascontiguousarray(crop), "a centred crop of the user's image (--test-image)"
    # deterministic synthetic input: smooth blobs between each channel's normalisation bounds
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    shape = (size,) * ndim
    chans = []
    for low, high in cfg.normalization or ((0.0, 1.0),) * cfg.in_channels:
        field = ndi.gaussian_filter(rng.standard_normal(shape), sigma=max(2.0, size / 32))
        field = (field - field.min()) / max(float(np.ptp(field)), 1e-12)
        noise = 0.05 * rng.standard_normal(shape)
        chans.append(low + (high - low) * np.clip(field + noise, 0, 1))
    return (np.stack(chans).astype(np.float32),
            "synthetic (the .sciseg file stores no training image): smooth random blobs, seed 0, "
            "spanning the model's normalisation range")


def _cover(raw: np.ndarray, mean: np.ndarray, path: Path) -> Path:
    """A 2:1 PNG: the test input (left) and the most probable class (right)."""
    import matplotlib

    img = raw[0]
    cls = mean.argmax(0)
    if img.ndim == 3:
        img, cls = img[img.shape[0] // 2], cls[cls.shape[0] // 2]
    lo, hi = np.percentile(img, (1, 99))
    gray = np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1)
    colors = matplotlib.colormaps["tab10"](np.arange(10))[:, :3]
    right = colors[cls % 10]
    left = np.repeat(gray[..., None], 3, axis=2)
    rgb = (np.concatenate([left, right], axis=1) * 255).astype(np.uint8)
    import matplotlib.image

    matplotlib.image.imsave(path, rgb)
    return path


def _description(trained, test_source: str) -> tuple[str, str]:
    cfg = trained.config
    recipe = ", ".join(f"{k}={v}" for k, v in sorted(cfg.recipe.items())) or "not recorded"
    names = ", ".join(cfg.class_names) or ", ".join(f"class {i + 1}" for i in range(cfg.n_classes))
    short = (f"napari-sciseg ensemble of {len(cfg.member_configs)} {cfg.arch.upper()} "
             f"networks, {cfg.model_ndim}D segmentation into {cfg.n_classes} classes ({names}); "
             f"outputs the per-class mean probability and the member standard deviation. "
             f"Training recipe: {recipe}.")
    metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in sorted(cfg.metrics.items())) or "none recorded"
    doc = f"""# {cfg.arch.upper()} ensemble from napari-sciseg

{short}

## Inputs and outputs
- `raw`: (batch, channel, {', '.join(_axis_names(cfg.model_ndim))}) float32; the preprocessing
  step `scale_linear` applies the training normalisation (x - low) / (high - low) per channel,
  with (low, high) = {[list(map(float, lh)) for lh in cfg.normalization]}.
- `mean`: per-class mean softmax probability of the members, channels = classes ({names}).
- `std`: standard deviation of that probability between the members (0 = they agree).
- napari-sciseg's confident segmentation: class c where mean_c - k * std_c > 0.5 (k = 1), else
  0 = unsure.

## Training
Sparse scribble labels, recipe: {recipe}. Validation: {metrics}.

## Test tensors
The test input is {test_source}; the test outputs are napari-sciseg's own prediction.

## Use
Tiles need the halo given on the output axes (the receptive field) on each side.
"""
    return short, doc


def _trace_torchscript(network, x, path: Path) -> Path:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer notes about shapes turned into constants
        traced = torch.jit.trace(network, (x,), check_trace=False, strict=False)
    traced.save(str(path))
    return path


@closing_leaked_files
def export_bioimageio(trained, path, *, weights=_WEIGHTS, test_image=None,
                      test_size: int | None = None, authors=None, license: str = "CC-BY-4.0",
                      name: str | None = None, test: bool = True,
                      overwrite: bool = False) -> BioimageioExport:
    """Write ``trained`` as a bioimage.io model package (spec 0.5).

    Parameters
    ----------
    trained : TrainedModel
    path : str or Path
        A ``.zip`` file, or a folder (created; it must not exist unless ``overwrite``).
    weights : sequence of {"torchscript", "onnx"}
        Weight formats to include.
    test_image : ndarray, optional
        The image for the test tensors (channels first when the model has several);
        default a deterministic synthetic image (the ``.sciseg`` stores none).
    test_size : int, optional
        Edge of the test crop; default 256 (2D) or 48 (3D), at least the model's minimum.
    authors : str or list of str, optional
        Author names.
    license : str
        SPDX licence id of the weights.
    name : str, optional
        Model name; default from the architecture and classes.
    test : bool
        Run ``bioimageio.core``'s test of the written package (and compare its
        prediction on the test input with ours).
    overwrite : bool
        Replace an existing package (only once the new one is complete).

    Returns
    -------
    BioimageioExport
    """
    import copy

    from ..prediction import predict
    from .onnx import size_multiple

    path = Path(path)
    weights = _check_weights(weights, path, overwrite)
    cfg = trained.config
    ndim = int(cfg.model_ndim)
    network = copy.deepcopy(trained.network).to("cpu").eval()
    halo = int(network.receptive_field)
    step = size_multiple(network)
    min_size = _min_size(halo, step)
    raw, test_source = _test_input(trained, test_image, test_size or (256 if ndim == 2 else 48),
                                   min_size, step)
    result = predict(trained, raw if cfg.in_channels > 1 else raw[0], device="cpu",
                     channel_axis=0 if cfg.in_channels > 1 else None,
                     tile=tuple(raw.shape[1:]))
    mean, std = np.asarray(result.mean)[None], np.asarray(result.std)[None]
    work = Path(tempfile.mkdtemp(prefix=".sciseg-bioimageio-", dir=path.parent
                                 if path.parent.exists() else None))
    try:
        for stem, array in (("test_input", raw[None]), ("test_mean", mean), ("test_std", std)):
            np.save(work / f"{stem}.npy", array.astype(np.float32))
        entries = _write_weights(network, _normalised(raw, cfg), work, weights)
        descr = _model_descr(trained, work, entries, raw, mean, test_source,
                             layout=(min_size, step, halo), name=name, authors=authors,
                             license=license)
        written = _save_package(descr, path, work)
        summary, diff = (None, None)
        if test:
            summary, diff = _test_package(written, raw, mean, std, weights, halo)
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(written, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return BioimageioExport(path=path, format_version=str(descr.format_version),
                            weights=tuple(entries), test_input_source=test_source,
                            test_summary=summary, max_difference=diff)


def _check_weights(weights, path: Path, overwrite: bool) -> tuple[str, ...]:
    weights = tuple(weights)
    bad = [w for w in weights if w not in _WEIGHTS]
    if bad or not weights:
        raise ValueError(f"weights must be from {list(_WEIGHTS)}; got {list(weights)}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it.")
    return weights


def _normalised(raw: np.ndarray, cfg):
    """The test input as the network sees it (after the model's normalisation), batch first."""
    import torch

    ndim = raw.ndim - 1
    x = torch.from_numpy(np.ascontiguousarray(raw[None]))
    low = torch.tensor([lh[0] for lh in cfg.normalization]).view(-1, *(1,) * ndim)
    span = torch.tensor([lh[1] - lh[0] for lh in cfg.normalization]).view(-1, *(1,) * ndim)
    return (x - low) / span


def _write_weights(network, x, work: Path, weights) -> dict:
    """Write the requested weight formats into ``work``; their bioimage.io descriptions."""
    import torch
    from bioimageio.spec.model import v0_5 as bio

    from .onnx import OPSET, _export

    entries = {}
    if "torchscript" in weights:
        _trace_torchscript(network, x, work / "ensemble.torchscript.pt")
        entries["torchscript"] = bio.TorchscriptWeightsDescr(
            source=work / "ensemble.torchscript.pt",
            pytorch_version=torch.__version__.split("+")[0])
    if "onnx" in weights:
        try:
            _export(network, x, str(work / "ensemble.onnx"))
        except Exception as exc:  # noqa: BLE001 - named like export_onnx does
            from .onnx import OnnxExportError, _unsupported_layers

            raise OnnxExportError(
                f"ONNX cannot export this model: {'; '.join(_unsupported_layers(network, x))}"
                f" ({type(exc).__name__}); export with weights=('torchscript',)."
            ) from None
        entries["onnx"] = bio.OnnxWeightsDescr(
            source=work / "ensemble.onnx", opset_version=OPSET,
            **({"parent": "torchscript"} if "torchscript" in entries else {}))
    return entries


def _input_descr(cfg, work: Path, min_size: int, step: int):
    """The input tensor: raw intensities, the model's normalisation as preprocessing."""
    from bioimageio.spec.model import v0_5 as bio

    space_in = [bio.SpaceInputAxis(id=bio.AxisId(a), size=bio.ParameterizedSize(
        min=min_size, step=step)) for a in _axis_names(int(cfg.model_ndim))]
    channels = [f"channel{i}" for i in range(cfg.in_channels)]
    low = [float(lh[0]) for lh in cfg.normalization]
    span = [float(lh[1] - lh[0]) for lh in cfg.normalization]
    preprocessing = [bio.EnsureDtypeDescr(kwargs=bio.EnsureDtypeKwargs(dtype="float32"))]
    if any(lo != 0 for lo in low) or any(sp != 1 for sp in span):
        preprocessing.append(bio.ScaleLinearDescr(kwargs=bio.ScaleLinearAlongAxisKwargs(
            axis=bio.AxisId("channel"), gain=[1 / sp for sp in span],
            offset=[-lo / sp for lo, sp in zip(low, span)])))
    return bio.InputTensorDescr(
        id=bio.TensorId("raw"), description="image, raw intensities",
        axes=[bio.BatchAxis(), bio.ChannelAxis(channel_names=channels), *space_in],
        test_tensor=bio.FileDescr(source=work / "test_input.npy"),
        data=bio.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=preprocessing,
    )


def _output_descrs(cfg, work: Path, halo: int):
    """The two output tensors: per-class mean probability and the members' std."""
    from bioimageio.spec.model import v0_5 as bio

    names = list(cfg.class_names) or [f"class {i + 1}" for i in range(cfg.n_classes)]

    def out_axes():
        return [bio.BatchAxis(), bio.ChannelAxis(channel_names=names)] + [
            bio.SpaceOutputAxisWithHalo(
                id=bio.AxisId(a), halo=halo, size=bio.SizeReference(
                    tensor_id=bio.TensorId("raw"), axis_id=bio.AxisId(a)))
            for a in _axis_names(int(cfg.model_ndim))]

    return [
        bio.OutputTensorDescr(
            id=bio.TensorId("mean"), axes=out_axes(),
            description="per-class mean softmax probability of the ensemble members",
            test_tensor=bio.FileDescr(source=work / "test_mean.npy"),
            data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0))),
        bio.OutputTensorDescr(
            id=bio.TensorId("std"), axes=out_axes(),
            description="standard deviation of the class probability between members",
            test_tensor=bio.FileDescr(source=work / "test_std.npy"),
            data=bio.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0))),
    ]


def _cite_entry(bio, text: str, doi: str | None, url: str | None):
    """One bioimage.io citation: by DOI where we have a verified one, else by URL."""
    if doi:
        return bio.CiteEntry(text=text, doi=bio.Doi(doi))
    return bio.CiteEntry(text=text, url=bio.HttpUrl(url))


def _model_descr(trained, work: Path, entries: dict, raw, mean, test_source: str, *,
                 layout: tuple[int, int, int], name, authors, license: str):
    """The whole bioimage.io model description (README and cover written into ``work``)."""
    from bioimageio.spec.model import v0_5 as bio

    min_size, step, halo = layout
    cfg = trained.config
    ndim = int(cfg.model_ndim)
    short, doc = _description(trained, test_source)
    (work / "README.md").write_text(doc)
    _cover(raw, mean[0], work / "cover.png")
    archs = sorted({c.get("arch", cfg.arch) for c in cfg.member_configs} | {cfg.arch})
    cite = [_cite_entry(bio, *_CITATIONS[a]) for a in archs if a in _CITATIONS]
    if isinstance(authors, str):
        authors = [authors]
    return bio.ModelDescr(
        name=name or f"napari-sciseg {cfg.arch} ensemble {ndim}D {cfg.n_classes} classes",
        description=short[:1024],
        covers=[bio.FileDescr(source=work / "cover.png")],
        authors=[bio.Author(name=a) for a in (authors or ["unknown (napari-sciseg export)"])],
        cite=cite,
        license=bio.LicenseId(license),
        documentation=bio.FileDescr(source=work / "README.md"),
        tags=["segmentation", f"{ndim}d", "uncertainty", "ensemble", "napari-sciseg", *archs],
        inputs=[_input_descr(cfg, work, min_size, step)],
        outputs=_output_descrs(cfg, work, halo),
        weights=bio.WeightsDescr(**entries),
        config=bio.Config(**{_KEY: {"config": cfg.to_dict(), "receptive_field": halo,
                                    "size_multiple": step, "test_input": test_source}}),
    )


def _save_package(descr, path: Path, work: Path) -> Path:
    """Write the package (zip or folder) inside ``work`` and validate it."""
    from bioimageio.spec import ValidationContext, save_bioimageio_package
    from bioimageio.spec import save_bioimageio_package_as_folder as save_folder

    with ValidationContext(perform_io_checks=True), warnings.catch_warnings():
        # bioimageio.spec warns about its own intermediate file lookups while packaging;
        # the written package is validated on its own just below
        warnings.simplefilter("ignore", UserWarning)
        if path.suffix.lower() == ".zip":
            written = save_bioimageio_package(descr, output_path=work / "package.zip")
        else:
            written = save_folder(descr, output_path=work / "package")
    _validate(written)
    return written

def _validate(package: Path) -> None:
    """Raise a ValueError unless bioimageio.spec validates the written package."""
    from bioimageio.spec import InvalidDescr, load_description

    source = package / "rdf.yaml" if package.is_dir() else package
    descr = load_description(source, perform_io_checks=True, format_version="discover")
    if isinstance(descr, InvalidDescr):
        errors = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}"
                           for e in descr.validation_summary.errors[:5])
        raise ValueError(f"bioimageio.spec rejects the written package: {errors}.")


def _test_package(package: Path, raw, mean, std, weights, halo: int) -> tuple[str, float]:
    """bioimageio.core's test per weight format, and its prediction against ours.

    bioimage.io's whole-image prediction pads the image border by the halo (its
    padding) where napari-sciseg lets the network handle the border, so the
    outermost ``halo`` pixels are compared on the unpadded run (the network on the
    test tensor as it is) and the interior on both runs.
    """
    from bioimageio.core import (
        Sample,
        Tensor,
        create_prediction_pipeline,
        load_model_description,
        test_model,
    )

    verdicts, diff = [], 0.0
    ndim = raw.ndim - 1
    dims = ("batch", "channel", *_axis_names(ndim))
    inner = (slice(None), slice(None)) + (slice(halo, -halo or None),) * ndim
    for fmt in weights:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load's notice
            summary = test_model(package, weight_format=fmt)
        if summary.status != "passed":
            problems = [f"{d.name}: {e.msg}" for d in summary.details for e in d.errors][:5]
            raise ValueError(f"bioimageio.core's test of the {fmt} weights failed: "
                             f"{'; '.join(problems) or summary.status}.")
        verdicts.append(f"{fmt} passed")
        descr = load_model_description(package, perform_io_checks=False)
        pipeline = create_prediction_pipeline(descr, weight_format=fmt, devices=["cpu"])
        for skip in (True, False):
            sample = Sample(members={"raw": Tensor(raw[None], dims=dims)}, stat={}, id="test")
            out = pipeline.predict_sample_without_blocking(
                sample, skip_input_padding=skip, skip_output_cropping=skip)
            for key, ours in (("mean", mean), ("std", std)):
                theirs = np.asarray(out.members[key].transpose(dims).data)
                region = (Ellipsis,) if skip else inner
                diff = max(diff, float(np.abs(theirs[region] - ours[region]).max()))
    if diff > 1e-4:
        raise ValueError(f"bioimage.io's prediction differs from napari-sciseg's by {diff:.2g} "
                         "on the test input (more than 1e-4).")
    return ", ".join(verdicts), diff

