"""The CNN image classifier: trained from scratch, or from a self-supervised encoder.

The network is the convolutional :class:`~napari_sciseg.dl.models.autoencoder.Encoder`
(the down half of a TUNet) followed by global average pooling and a linear
layer. ``cnn`` starts it from random weights; ``pretrained`` first trains an
:class:`~napari_sciseg.dl.models.autoencoder.Autoencoder` to reconstruct tiles
of the (unlabelled) images (:func:`napari_sciseg.dl.autoencoder.iter_train_autoencoder`)
and copies its encoder in, so the classifier starts from features of the
user's own kind of image - no model hub.

Training on small, imbalanced sets: batches drawn class-balanced
(:func:`~napari_sciseg.classify.images.balance.balanced_indices`), random
crops of ``tile`` pixels and random 90° rotations / flips.

Examples
--------
>>> net = build_cnn({"in_channels": 1, "n_classes": 3, "depth": 2, "base_channels": 4})
>>> cnn_proba(net, [np.zeros((1, 24, 24), np.float32)], 16).shape
(1, 3)
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ...classify.images.balance import augment_rare, balanced_indices, dihedral
from ...classify.images.prepare import tile_starts
from ..models.autoencoder import Encoder

__all__ = ["ImageCNN", "build_cnn", "iter_fit_cnn", "iter_pretrain_encoder", "cnn_proba",
           "cnn_embed"]


class ImageCNN(nn.Module):
    """Encoder -> global average pooling -> dropout -> linear (class logits).

    ``low``/``high`` rescale the input as the pretraining did ((x - low) / (high - low)).
    """

    def __init__(self, *, in_channels: int = 1, n_classes: int = 2, depth: int = 4,
                 base_channels: int = 16, low=None, high=None, dropout: float = 0.2):
        super().__init__()
        self.encoder = Encoder(ndim=2, in_channels=in_channels, depth=depth,
                               base_channels=base_channels)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.widths[-1], n_classes)
        low = [0.0] * in_channels if low is None else [float(v) for v in low]
        high = [1.0] * in_channels if high is None else [float(v) for v in high]
        self.register_buffer("low", torch.tensor(low).view(1, -1, 1, 1))
        self.register_buffer("high", torch.tensor(high).view(1, -1, 1, 1))
        self.config = {"in_channels": int(in_channels), "n_classes": int(n_classes),
                       "depth": int(depth), "base_channels": int(base_channels),
                       "dropout": float(dropout)}

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest encoder map (B, widths[-1], Y', X') (Grad-CAM's layer)."""
        x = (x - self.low) / (self.high - self.low).clamp_min(1e-6)
        return self.encoder.features(x)[-1]

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (B, widths[-1])."""
        return self.feature_map(x).mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


def build_cnn(config: dict) -> ImageCNN:
    """An untrained :class:`ImageCNN` of ``config`` (as saved in a model's ``net``)."""
    return ImageCNN(**config).eval()


def _crop(rng, image: np.ndarray, tile: int) -> np.ndarray:
    h, w = image.shape[-2:]
    if h < tile or w < tile:  # pad a small image (edge values) up to the tile
        image = np.pad(image, ((0, 0), (0, max(tile - h, 0)), (0, max(tile - w, 0))), "edge")
        h, w = image.shape[-2:]
    y, x = rng.integers(0, h - tile + 1), rng.integers(0, w - tile + 1)
    return image[:, y:y + tile, x:x + tile]


def _batches(images, labels, tile, options, n_steps, batch):
    """Yield (x, y) tensors: balanced (or uniform) draws, random crops and D4 transforms."""
    rng = np.random.default_rng(options.seed)
    n = n_steps * batch
    idx = balanced_indices(labels, n, seed=options.seed) if options.balance \
        else rng.integers(0, len(labels), n)
    for s in range(n_steps):
        take = idx[s * batch:(s + 1) * batch]
        x = np.stack([dihedral(_crop(rng, images[i], tile), int(rng.integers(8)))
                      for i in take])
        yield torch.from_numpy(x), torch.from_numpy(labels[take]).long()


def iter_fit_cnn(prepared, labels, n_classes: int, *, tile: int, options, pretrained=None):
    """Generator: train an :class:`ImageCNN`; yields progress, returns the network (eval).

    Parameters
    ----------
    prepared : list of (C, Y, X) ndarrays
        Prepared images.
    labels : (N,) int ndarray
    n_classes : int
    tile : int
        Crop edge.
    options : ClassifyOptions
        ``epochs``, ``balance``, ``augment``, ``seed``.
    pretrained : tuple (state_dict, low, high), optional
        Encoder weights and input scaling from :func:`iter_pretrain_encoder`.
    """
    from .progress import ClassifyProgress

    images, labels = list(prepared), np.asarray(labels)
    if options.augment:
        images, labels, _ = augment_rare(images, labels, seed=options.seed)
    torch.manual_seed(options.seed)
    low, high = (None, None) if pretrained is None else pretrained[1:]
    net = ImageCNN(in_channels=images[0].shape[0], n_classes=n_classes, low=low, high=high)
    if pretrained is not None:
        net.encoder.down.load_state_dict(pretrained[0])
    batch = 16
    per_epoch = max(1, math.ceil(max(len(images), 64) / batch))
    n_steps = options.epochs * per_epoch
    # a pretrained encoder is fine-tuned 5x slower than the new head, so that the first
    # steps (a random head's large gradients) do not wash out what it learned
    enc_lr = 2e-3 if pretrained is None else 4e-4
    head = [p for n, p in net.named_parameters() if not n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": net.encoder.parameters(), "lr": enc_lr},
                             {"params": head, "lr": 2e-3}], weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[enc_lr, 2e-3], total_steps=n_steps)
    net.train()
    for step, (x, y) in enumerate(_batches(images, labels, tile, options, n_steps, batch)):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % per_epoch == 0:
            yield ClassifyProgress("epoch", (step + 1) // per_epoch, options.epochs,
                                   f"loss {loss.item():.3f}")
    return net.eval()


def iter_pretrain_encoder(prepared, *, tile: int, options, crops_per_image: int = 8):
    """Generator: self-supervised autoencoder on crops of ``prepared``; returns the encoder.

    Returns
    -------
    tuple (state_dict, low, high)
        The encoder's ``down`` weights and the autoencoder's input scaling.
    """
    from ..autoencoder import iter_train_autoencoder
    from .progress import ClassifyProgress

    rng = np.random.default_rng(options.seed + 1)
    tiles = np.stack([dihedral(_crop(rng, im, tile), int(rng.integers(8)))
                      for im in prepared for _ in range(crops_per_image)])
    steps = max(20, options.pretrain_epochs * math.ceil(len(tiles) / 32))
    gen = iter_train_autoencoder(tiles, depth=4, base_channels=16, latent_size=32,
                                 steps=steps, batch=32, seed=options.seed)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            trained = stop.value
            break
        yield ClassifyProgress("pretrain", p.step, p.total_steps, f"loss {p.loss:.4f}")
    lo_hi = np.asarray(trained.normalization, np.float64).reshape(-1, 2)
    return trained.network.encoder.down.state_dict(), lo_hi[:, 0].tolist(), lo_hi[:, 1].tolist()


def _tiles_of(image: np.ndarray, tile: int) -> np.ndarray:
    if min(image.shape[-2:]) <= tile:
        return image[None]
    return np.stack([image[:, y:y + tile, x:x + tile] for y, x in tile_starts(image.shape, tile)])


@torch.no_grad()
def cnn_proba(net: ImageCNN, prepared, tile: int) -> np.ndarray:
    """Class probabilities (N, K): the mean softmax over each image's tiles."""
    net.eval()
    out = []
    for image in prepared:
        x = torch.from_numpy(np.ascontiguousarray(_tiles_of(image, tile), np.float32))
        out.append(torch.softmax(net(x), 1).mean(0).numpy())
    return np.stack(out).astype(np.float32)


@torch.no_grad()
def cnn_embed(net: ImageCNN, prepared, tile: int) -> np.ndarray:
    """Pooled features (N, F) of each image (mean over its tiles)."""
    net.eval()
    return np.stack([net.embed(torch.from_numpy(np.ascontiguousarray(
        _tiles_of(im, tile), np.float32))).mean(0).numpy() for im in prepared])
