"""Self-supervised autoencoder training on tiles, latent vectors, ``.sciseg`` files.

:func:`iter_train_autoencoder` trains an :class:`~.models.autoencoder.Autoencoder` to
reconstruct tiles (mean squared error) and yields :class:`AutoencoderProgress` after
every step; :func:`encode_tiles` gives the latent vectors. The trained network, its
normalisation and recipe are saved in the same container as segmentation models
(``config.json`` + safetensors; loading never runs code) with their own format name,
so a segmentation model is refused where an encoder is needed and vice versa.

Another module gets a pretrained encoder with
``load_autoencoder(path).network.encoder`` (an :class:`~.models.autoencoder.Encoder`:
``features(x)`` per level, ``encoder(x)`` the latent vector).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .._generators import drain
from .._validation import check_finite
from ..io.outputs import write_model_container
from .device import resolve_device
from .models.autoencoder import Autoencoder
from .trainer import robust_range

__all__ = ["AutoencoderProgress", "TrainedAutoencoder", "iter_train_autoencoder",
           "train_autoencoder", "encode_tiles", "reconstruct_tiles", "save_autoencoder",
           "load_autoencoder", "pearson_r", "AUTOENCODER_FORMAT"]

logger = logging.getLogger(__name__)

AUTOENCODER_FORMAT = "napari-sciseg autoencoder"
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class AutoencoderProgress:
    """One progress record of :func:`iter_train_autoencoder` (``val_loss`` None between checks)."""

    step: int
    total_steps: int
    loss: float
    val_loss: float | None
    elapsed_s: float
    eta_s: float
    message: str = ""


@dataclass
class TrainedAutoencoder:
    """A trained autoencoder with what it needs to encode new tiles.

    Attributes
    ----------
    network : Autoencoder
        In ``eval()`` mode on the CPU; ``network.encoder`` is the reusable encoder.
    normalization : tuple of (float, float)
        Per channel (low, high): tiles become (x - low) / (high - low) before encoding.
    recipe, metrics : dict
        Training settings; ``val_loss`` and ``val_pearson_r`` (reconstruction of the
        held-out tiles, normalised units).
    """

    network: Autoencoder
    normalization: tuple
    recipe: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def tile_shape(self) -> tuple:
        return self.network.tile_shape

    @property
    def latent_size(self) -> int:
        return self.network.latent_size


def _as_nc(tiles, ndim: int, in_channels: int | None = None) -> np.ndarray:
    """``(N, *spatial)`` or ``(N, C, *spatial)`` -> float32 ``(N, C, *spatial)``."""
    tiles = np.asarray(tiles)
    if tiles.ndim == ndim + 1:
        tiles = tiles[:, None]
    if tiles.ndim != ndim + 2 or tiles.shape[0] < 1:
        raise ValueError(f"tiles must be (N, *spatial) or (N, C, *spatial) with {ndim} spatial "
                         f"axes; got shape {tiles.shape}.")
    if in_channels is not None and tiles.shape[1] != in_channels:
        raise ValueError(f"tiles have {tiles.shape[1]} channel(s); the autoencoder expects "
                         f"{in_channels}.")
    check_finite("tiles", tiles)
    return tiles.astype(np.float32, copy=False)


def _normalize(tiles_nc: np.ndarray, normalization) -> np.ndarray:
    low = np.array([lh[0] for lh in normalization], np.float32)
    high = np.array([lh[1] for lh in normalization], np.float32)
    shape = (1, -1) + (1,) * (tiles_nc.ndim - 2)
    return (tiles_nc - low.reshape(shape)) / (high - low).reshape(shape)


def pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two arrays over all their values.

    >>> pearson_r(np.arange(5.0), 2 * np.arange(5.0) + 1)
    1.0
    """
    a = np.asarray(a, np.float64).ravel() - np.mean(a)
    b = np.asarray(b, np.float64).ravel() - np.mean(b)
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float(round((a * b).sum() / denom, 12)) if denom > 0 else 0.0


def _split(n: int, val_fraction: float, rng: np.random.Generator):
    order = rng.permutation(n)
    n_val = min(n - 1, int(round(n * val_fraction))) if n > 1 else 0
    return order[n_val:], order[:n_val]


@torch.no_grad()
def _run(network, x: np.ndarray, fn: str, batch: int = 256) -> np.ndarray:
    out = [getattr(network, fn)(torch.from_numpy(np.ascontiguousarray(x[i:i + batch])))
           for i in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def iter_train_autoencoder(
        tiles: np.ndarray, *, ndim: int = 2, depth: int = 4, base_channels: int = 16,
        growth_rate: float = 2.0, kernel_size: int = 3, latent_size: int = 16,
        steps: int = 500, batch: int = 32, lr: float = 2e-3, seed: int = 0,
        val_fraction: float = 0.1, val_every: int | None = None, device: str = "cpu",
        cancel=None) -> Generator[AutoencoderProgress, None, TrainedAutoencoder]:
    """Train an autoencoder to reconstruct tiles; yield progress, return the model.

    Parameters
    ----------
    tiles : (N, *spatial) or (N, C, *spatial) ndarray
        The training tiles (all the same shape, e.g. ``(N, 64, 64)``).
    ndim : {2, 3}
        Spatial axes of a tile.
    depth, base_channels, growth_rate, kernel_size, latent_size
        The network (:class:`~.models.autoencoder.Autoencoder`; DLSIA: 4, 16, 2, 3, 16).
    steps, batch, lr : int, int, float
        AdamW steps (cosine schedule), tiles per step, peak learning rate.
    seed : int
        Seeds the weights, the validation split and the batches: same seed, same model.
    val_fraction : float
        Share of tiles held out; ``metrics`` reports their reconstruction.
    val_every : int, optional
        Validate every so many steps (default steps / 10).
    device : {"cpu", "auto", "cuda", "mps"}
    cancel : threading.Event, optional
        Checked before every step; when set, training stops and the model is returned.

    Yields
    ------
    AutoencoderProgress

    Returns
    -------
    TrainedAutoencoder

    Examples
    --------
    >>> from napari_sciseg.data.shapes import four_shapes
    >>> tiles, _ = four_shapes(16, size=24, seed=0)
    >>> ae = train_autoencoder(tiles, depth=2, base_channels=4, latent_size=4, steps=2)
    >>> encode_tiles(ae, tiles).shape
    (16, 4)
    """
    x = _as_nc(tiles, ndim)
    normalization = robust_range(np.moveaxis(x, 1, 0))
    x = _normalize(x, normalization)
    rng = np.random.default_rng(seed)
    train_idx, val_idx = _split(len(x), val_fraction, rng)
    net = Autoencoder(ndim=ndim, in_channels=x.shape[1], tile_shape=x.shape[2:], depth=depth,
                      base_channels=base_channels, growth_rate=growth_rate,
                      kernel_size=kernel_size, latent_size=latent_size, seed=seed)
    dev = resolve_device(device)[0]
    net.to(dev).train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-5)
    if steps >= 20:  # one-cycle schedule; its warm-up phase is empty below ~20 steps
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps,
                                                    pct_start=0.1)
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    recipe = {"steps": int(steps), "batch": int(batch), "lr": float(lr), "seed": int(seed),
              "val_fraction": float(val_fraction), "loss": "mse", "n_tiles": int(len(x))}
    val_every = max(1, val_every or steps // 10)
    t0, done, stopped, val_loss = time.perf_counter(), 0, "completed", None
    for step in range(1, steps + 1):
        if cancel is not None and cancel.is_set():
            stopped = "cancelled"
            break
        pick = train_idx[rng.integers(0, len(train_idx), size=min(batch, len(train_idx)))]
        xb = torch.from_numpy(x[pick]).to(dev)
        loss = torch.mean((net(xb) - xb) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        done = step
        val_loss = _val_loss(net, x, val_idx, dev) if (step % val_every == 0
                                                        or step == steps) else None
        elapsed = time.perf_counter() - t0
        loss = float(loss.detach())
        yield AutoencoderProgress(step, steps, loss, val_loss, elapsed,
                                  elapsed / step * (steps - step),
                                  f"step {step}/{steps} loss {loss:.4f}")
    net.to("cpu").eval()
    held = x[val_idx] if len(val_idx) else x[train_idx]
    recon = _run(net, held, "forward")
    metrics = {"val_loss": float(np.mean((recon - held) ** 2)),
               "val_pearson_r": pearson_r(recon, held), "steps_done": done, "stopped": stopped}
    logger.info("autoencoder: %s after %d steps, %s", stopped, done, metrics)
    return TrainedAutoencoder(network=net, normalization=normalization, recipe=recipe,
                              metrics=metrics)


@torch.no_grad()
def _val_loss(net, x, val_idx, dev) -> float | None:
    if len(val_idx) == 0:
        return None
    net.eval()
    xb = torch.from_numpy(x[val_idx[:256]]).to(dev)
    out = float(torch.mean((net(xb) - xb) ** 2))
    net.train()
    return out


def train_autoencoder(tiles: np.ndarray, **kwargs) -> TrainedAutoencoder:
    """Run :func:`iter_train_autoencoder` to the end (same arguments).

    Parameters
    ----------
    tiles : ndarray
        The training tiles, as for :func:`iter_train_autoencoder`.
    **kwargs
        The options of :func:`iter_train_autoencoder`.

    Returns
    -------
    TrainedAutoencoder
    """
    return drain(iter_train_autoencoder(tiles, **kwargs))


def encode_tiles(model: TrainedAutoencoder, tiles: np.ndarray) -> np.ndarray:
    """Latent vectors of tiles.

    Parameters
    ----------
    model : TrainedAutoencoder
    tiles : (N, *tile_shape) or (N, C, *tile_shape) ndarray

    Returns
    -------
    (N, latent_size) float32 ndarray
    """
    net = model.network
    x = _as_nc(tiles, net.ndim, net.in_channels)
    if tuple(x.shape[2:]) != net.tile_shape:
        raise ValueError(f"the autoencoder was trained on tiles of {net.tile_shape}; got tiles "
                         f"of {tuple(x.shape[2:])}. Cut tiles of its size.")
    return _run(net.eval(), _normalize(x, model.normalization), "encode")


def reconstruct_tiles(model: TrainedAutoencoder, tiles: np.ndarray) -> np.ndarray:
    """Reconstructions ``(N, C, *tile_shape)`` of tiles, in the tiles' units."""
    net = model.network
    x = _normalize(_as_nc(tiles, net.ndim, net.in_channels), model.normalization)
    out = _run(net.eval(), x, "forward")
    low = np.array([lh[0] for lh in model.normalization], np.float32)
    high = np.array([lh[1] for lh in model.normalization], np.float32)
    shape = (1, -1) + (1,) * (out.ndim - 2)
    return out * (high - low).reshape(shape) + low.reshape(shape)


def save_autoencoder(model: TrainedAutoencoder, path) -> Path:
    """Write ``model`` as a ``.sciseg`` file (or into a folder); return the path.

    Parameters
    ----------
    model : TrainedAutoencoder
    path : str or Path
        A file (``.sciseg`` is added when missing) or a folder.

    Returns
    -------
    Path
        Where the model was written.
    """
    from safetensors.torch import save as save_tensors

    path = Path(path)
    header = {"format": AUTOENCODER_FORMAT, "format_version": _FORMAT_VERSION,
              "version": __version__, "network": model.network.config,
              "normalization": [list(map(float, lh)) for lh in model.normalization],
              "recipe": model.recipe, "metrics": model.metrics}
    tensors = {k: v.detach().to("cpu").contiguous().clone()
               for k, v in model.network.state_dict().items()}
    blob = save_tensors(tensors, metadata={"format": AUTOENCODER_FORMAT})
    write_model_container(path, json.dumps(header, indent=1), blob)
    return path


def load_autoencoder(path) -> TrainedAutoencoder:
    """Read a file written by :func:`save_autoencoder` (never unpickles anything).

    Parameters
    ----------
    path : str or Path
        A ``.sciseg`` file or folder written by :func:`save_autoencoder`.

    Returns
    -------
    TrainedAutoencoder

    Raises
    ------
    ValueError
        For a segmentation model (it has no encoder), a file that is not ours, a
        corrupt one or one written by a newer format version.
    """
    from .serialization import _FORMAT, _parse_json, _read, _read_tensors

    path = Path(path)
    raw_config, raw_weights = _read(path)
    header = _parse_json(path, raw_config)
    kind = header.get("format") if isinstance(header, dict) else None
    if kind != AUTOENCODER_FORMAT:
        if kind == _FORMAT or kind == "napari-sciseg pixel forest":
            raise ValueError(
                f"{path}: a segmentation model, which has no encoder to embed tiles with. "
                "Use an autoencoder model (trained by 'sciseg embed' without --model, or "
                "train_autoencoder), or leave the model out to train one.")
        raise ValueError(f"{path}: not a napari-sciseg autoencoder ({kind!r}).")
    if header.get("format_version", 0) > _FORMAT_VERSION:
        raise ValueError(f"{path}: written by a newer napari-sciseg (autoencoder format "
                         f"{header.get('format_version')}); upgrade napari-sciseg to load it.")
    try:
        net = Autoencoder.from_config(header["network"])
        net.load_state_dict(_read_tensors(path, raw_weights), strict=True)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: invalid autoencoder file ({str(exc).splitlines()[0]}).") \
            from None
    return TrainedAutoencoder(network=net.eval(),
                              normalization=tuple(tuple(lh) for lh in header["normalization"]),
                              recipe=header.get("recipe", {}), metrics=header.get("metrics", {}))
