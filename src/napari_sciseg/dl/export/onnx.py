"""ONNX export of a trained ensemble, and an ONNX Runtime predictor for the same tiling.

:func:`export_onnx` writes the whole ensemble as one ONNX graph with two
outputs, ``mean`` and ``std`` ``(B, K, *spatial)`` (the member mean softmax
probability and the member standard deviation, exactly as
:class:`~napari_sciseg.dl.models.Ensemble` computes them), batch and spatial
axes dynamic. The model's configuration (classes, normalisation, receptive
field, recipe) travels in the file's metadata, so :func:`load_onnx` gives a
:class:`~napari_sciseg.dl.config.TrainedModel` that
:func:`~napari_sciseg.dl.prediction.predict` runs through the same tiles as the
torch model, without torch doing the arithmetic.

U-Net members pad a window to a multiple of ``2 ** (depth - 1)`` (edge
replication); that padding depends on the window's shape, so the exported graph
has none and :class:`OnnxEnsemble` pads and crops around it in numpy, the same
way.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

__all__ = ["export_onnx", "load_onnx", "OnnxEnsemble", "OnnxExportError", "ONNX_SUFFIX"]

logger = logging.getLogger(__name__)

ONNX_SUFFIX = ".onnx"
_FORMAT = "napari-sciseg ensemble (mean, std)"
_KEY = "napari_sciseg"
#: opset of the exported graphs (ONNX Runtime >= 1.13 runs it).
OPSET = 17


class OnnxExportError(ValueError):
    """The network holds something ONNX cannot express; the message names it."""


def size_multiple(network) -> int:
    """Window edges the members need to be a multiple of (U-Nets pool ``depth - 1`` times)."""
    mult = 1
    for m in getattr(network, "members", [network]):
        if getattr(m, "arch", "") == "tunet":
            mult = int(np.lcm(mult, 2 ** (int(m.depth) - 1)))
    return mult


def _example(network, size: int | None = None):
    import torch

    mult = size_multiple(network)
    min_size = max(int(getattr(m, "min_size", 1)) for m in getattr(network, "members", [network]))
    size = size or max(32, min_size)
    size = -(-size // mult) * mult
    gen = torch.Generator().manual_seed(0)
    return torch.rand((1, network.in_channels) + (size,) * network.ndim, generator=gen)


def _export(network, x, target) -> None:
    import torch

    names = ("z", "y", "x")[-network.ndim:]
    axes = {0: "batch", **{i + 2: n for i, n in enumerate(names)}}
    with warnings.catch_warnings():
        # the tracer's notes (shapes turned into constants, deprecations of the
        # TorchScript exporter) are about how torch exports, not about the model
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network, (x,), target, input_names=["input"], output_names=["mean", "std"],
            dynamic_axes={"input": axes, "mean": axes, "std": axes}, opset_version=OPSET,
            dynamo=False,
        )


def _unsupported_layers(network, x) -> list[str]:
    """Leaf modules that ONNX cannot export on their own (tried one by one)."""
    import io

    import torch

    seen: dict[str, tuple] = {}

    def keep(name):
        def hook(module, args, output):  # returns None: the output stays as it is
            seen.setdefault(name, (module, args))

        return hook

    hooks = [mod.register_forward_hook(keep(name)) for name, mod in network.named_modules()
             if name and not list(mod.children())]
    try:
        with torch.no_grad():
            network(x)
    finally:
        for h in hooks:
            h.remove()
    bad = []
    for name, (mod, args) in seen.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(mod, tuple(args), io.BytesIO(), opset_version=OPSET,
                                  dynamo=False)
        except Exception as exc:  # noqa: BLE001 - any failure names the layer
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            bad.append(f"{name} ({type(mod).__name__}: {first[:160]})")
    return bad


def _atomic_target(path: Path, overwrite: bool) -> Path:
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def export_onnx(trained, path, *, overwrite: bool = False, check: bool = True) -> Path:
    """Write ``trained`` (an ensemble and its configuration) as one ONNX file.

    Parameters
    ----------
    trained : TrainedModel
        From :func:`~napari_sciseg.dl.train` or :func:`~napari_sciseg.dl.load_model`.
    path : str or Path
        The ``.onnx`` file to write.
    overwrite : bool
        Replace an existing file (it is replaced only once the new one is complete).
    check : bool
        Run the exported graph with ONNX Runtime on a test input and refuse the
        file when it differs from torch by more than 1e-4.

    Returns
    -------
    Path

    Raises
    ------
    OnnxExportError
        A layer ONNX cannot express; the message names it.
    """
    import copy

    import onnx
    import torch

    path = Path(path)
    if path.suffix.lower() != ONNX_SUFFIX:
        raise ValueError(f"the ONNX file must end in {ONNX_SUFFIX}; got {path.name}.")
    network = copy.deepcopy(trained.network).to("cpu").eval()
    x = _example(network)
    tmp = _atomic_target(path, overwrite)
    try:
        try:
            _export(network, x, str(tmp))
        except Exception as exc:  # noqa: BLE001 - turned into a message naming the layer
            bad = _unsupported_layers(network, x)
            where = "; ".join(bad) if bad else f"{type(exc).__name__}: {str(exc)[:300]}"
            raise OnnxExportError(
                f"ONNX cannot export this model: {where}. Use the .sciseg model with torch "
                "(sciseg predict MODEL.sciseg) or replace that layer."
            ) from None
        model = onnx.load(str(tmp))
        meta = {
            "format": _FORMAT,
            "config": trained.config.to_dict(),
            "receptive_field": int(network.receptive_field),
            "size_multiple": size_multiple(network),
            "member_arches": [getattr(m, "arch", "") for m in network.members],
        }
        entry = model.metadata_props.add()
        entry.key, entry.value = _KEY, json.dumps(meta)
        model.producer_name = "napari-sciseg"
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        if check:
            session = OnnxEnsemble.from_file(tmp)
            with torch.no_grad():
                mean_t, std_t = network(x)
            mean_o, std_o = session.run(x.numpy())
            err = max(float(np.abs(mean_o - mean_t.numpy()).max()),
                      float(np.abs(std_o - std_t.numpy()).max()))
            if err > 1e-4:
                raise OnnxExportError(
                    f"the exported ONNX graph differs from the torch model by {err:.2g} "
                    "(more than 1e-4); not written."
                )
            logger.info("ONNX export checked: max difference to torch %.2g", err)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


class OnnxEnsemble:
    """An exported ensemble run by ONNX Runtime on numpy batches.

    Stands where :func:`~napari_sciseg.dl.prediction.iter_predict` expects the
    torch network: ``receptive_field``, ``in_channels``, ``out_channels``,
    ``ndim`` and :meth:`run` ``(B, C, *spatial) -> (mean, std)``.
    """

    runs_numpy = True

    def __init__(self, session, meta: dict):
        self.session = session
        self.meta = meta
        cfg = meta["config"]
        self.receptive_field = int(meta["receptive_field"])
        self.ndim = int(cfg["model_ndim"])
        self.in_channels = int(cfg["in_channels"])
        self.out_channels = int(cfg["n_classes"])
        self.multiple = int(meta.get("size_multiple", 1))
        self.members = [SimpleNamespace(arch=a) for a in meta.get("member_arches", [])]
        self._input = session.get_inputs()[0].name

    @classmethod
    def from_file(cls, path, *, threads: int | None = None) -> OnnxEnsemble:
        """Open an ONNX file written by :func:`export_onnx`."""
        import onnxruntime as ort

        path = Path(path)
        opts = ort.SessionOptions()
        if threads is None:
            import torch

            threads = torch.get_num_threads()  # the same thread budget as the torch path
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), sess_options=opts,
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise ValueError(f"{path.name}: not a readable ONNX model ({exc}).") from None
        raw = session.get_modelmeta().custom_metadata_map.get(_KEY)
        if raw is None:
            raise ValueError(
                f"{path.name}: an ONNX model not exported by napari-sciseg (no '{_KEY}' "
                "metadata: its classes, normalisation and halo are unknown). Export it with "
                "'sciseg export MODEL.sciseg --format onnx', or wrap it in a bioimage.io "
                "package that states them."
            )
        meta = json.loads(raw)
        if meta.get("format") != _FORMAT:
            raise ValueError(
                f"{path.name}: unknown napari-sciseg ONNX format {meta.get('format')!r}."
            )
        return cls(session, meta)

    def modules(self):
        """The members' architectures (what prediction inspects of a torch network)."""
        return iter(self.members)

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(B, C, *spatial)`` float32 -> ``mean, std`` ``(B, K, *spatial)`` float32."""
        batch = np.ascontiguousarray(batch, np.float32)
        spatial = batch.shape[2:]
        pad = [(-s) % self.multiple for s in spatial]
        if any(pad):  # the U-Net members' own padding (edge replication, centred)
            widths = [(0, 0), (0, 0)] + [(p // 2, p - p // 2) for p in pad]
            batch = np.pad(batch, widths, mode="edge")
        mean, std = self.session.run(None, {self._input: batch})
        if any(pad):
            crop = (slice(None), slice(None)) + tuple(
                slice(p // 2, p // 2 + s) for p, s in zip(pad, spatial))
            mean, std = mean[crop], std[crop]
        return mean, std

    __call__ = run


def load_onnx(path, *, threads: int | None = None):
    """Open an ONNX file from :func:`export_onnx` as a model :func:`predict` runs.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.
    threads : int, optional
        Threads of the ONNX runtime session (its default without).

    Returns
    -------
    TrainedModel
        ``network`` is an :class:`OnnxEnsemble`; ``config`` the exported model's.
    """
    from ..config import ModelConfig, TrainedModel

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX model file.")
    network = OnnxEnsemble.from_file(path, threads=threads)
    return TrainedModel(network=network, config=ModelConfig.from_dict(network.meta["config"]))
