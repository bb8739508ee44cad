"""Losses on sparse labels (only labeled pixels count) and masked regression losses.

Every loss takes logits ``(B, M, K, *spatial)`` (M ensemble members trained
together) and targets ``(B, M, *spatial)`` with 0 = unlabeled and classes
1..K, and returns one loss per member, shape ``(M,)``; a member whose batch
has no labeled pixel gets 0 (never NaN). :func:`sparse_loss` is the
single-model convenience.
"""

from __future__ import annotations

from enum import StrEnum

import torch
from torch.nn import functional as F

__all__ = ["LossTerm", "LOSSES", "parse_loss", "member_losses", "sparse_loss", "balanced_weights",
           "RegressionLoss", "REGRESSION_LOSSES", "parse_regression_loss",
           "member_regression_losses"]


class LossTerm(StrEnum):
    """Loss terms on sparse labels; a loss is one term or a sum like "ce+dice"."""

    CE = "ce"
    DICE = "dice"
    FOCAL = "focal"
    TVERSKY = "tversky"


#: valid loss terms; sums are written "ce+dice".
LOSSES = tuple(t.value for t in LossTerm)
_FOCAL_GAMMA = 2.0
_TVERSKY_ALPHA, _TVERSKY_BETA = 0.3, 0.7  # weights of false positives / false negatives
_SMOOTH = 1.0


def parse_loss(spec: str) -> tuple[str, ...]:
    """Split ``"ce+dice"`` into valid terms.

    >>> parse_loss("CE + Dice")
    ('ce', 'dice')
    """
    terms = tuple(t.strip().lower() for t in str(spec).split("+"))
    for t in terms:
        if t not in LOSSES:
            valid = ", ".join(repr(n) for n in LOSSES)
            raise ValueError(f"Unknown loss {t!r} in {spec!r}; expected one of {valid} "
                             "or a sum like 'ce+dice'.")
    return terms


def balanced_weights(counts) -> torch.Tensor:
    """Class weights n / (K n_k) from labeled-pixel counts (absent classes get 0).

    >>> [round(w, 3) for w in balanced_weights([30, 10]).tolist()]
    [0.667, 2.0]
    """
    counts = torch.as_tensor(counts, dtype=torch.float32)
    k = int((counts > 0).sum())
    w = counts.sum() / (max(k, 1) * counts.clamp_min(1))
    return torch.where(counts > 0, w, torch.zeros_like(w))


def _reduce_dims(x: torch.Tensor) -> tuple[int, ...]:
    """All dims but the member dim (1) of a (B, M, *spatial) tensor."""
    return (0,) + tuple(range(2, x.ndim))


def _weighted_nll(logp_t, mask, w_t, focal: bool):
    nll = -logp_t
    if focal:
        nll = (1 - logp_t.exp()).pow(_FOCAL_GAMMA) * nll
    weight = w_t * mask
    dims = _reduce_dims(nll)
    return (nll * weight).sum(dims) / weight.sum(dims).clamp_min(1e-12)


def _overlap(probs, onehot, mask, kind: str):
    dims = (0,) + tuple(range(3, probs.ndim))  # keep members and classes
    m = mask.unsqueeze(2)
    tp = (probs * onehot * m).sum(dims)
    fp = (probs * (1 - onehot) * m).sum(dims)
    fn = ((1 - probs) * onehot * m).sum(dims)
    if kind == "dice":
        score = (2 * tp + _SMOOTH) / (2 * tp + fp + fn + _SMOOTH)
    else:
        score = (tp + _SMOOTH) / (tp + _TVERSKY_ALPHA * fp + _TVERSKY_BETA * fn + _SMOOTH)
    has_labels = (mask.sum(_reduce_dims(mask)) > 0).float()
    return (1 - score.mean(-1)) * has_labels


def member_losses(logits: torch.Tensor, target: torch.Tensor, *, loss: str = "ce",
                  class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-member loss on labeled pixels.

    Parameters
    ----------
    logits : (B, M, K, *spatial) tensor
    target : (B, M, *spatial) integer tensor
        0 = unlabeled, 1..K = classes.
    loss : str
        "ce", "dice", "focal", "tversky" or a sum such as "ce+dice".
    class_weights : (K,) tensor, optional
        Weights of cross-entropy and focal terms (a weighted mean, so scaling all
        weights changes nothing). Dice and Tversky average over classes.

    Returns
    -------
    (M,) tensor
    """
    terms = parse_loss(loss)
    logits = logits.float()
    k = logits.shape[2]
    mask = (target > 0).to(logits.dtype)
    t = (target.long() - 1).clamp(min=0, max=k - 1)
    total = logits.new_zeros(logits.shape[1])
    logp = F.log_softmax(logits, dim=2)
    if "ce" in terms or "focal" in terms:
        logp_t = logp.gather(2, t.unsqueeze(2)).squeeze(2)
        w = (class_weights.to(logits) if class_weights is not None
             else logits.new_ones(k))
        w_t = w[t]
        for term in ("ce", "focal"):
            if term in terms:
                total = total + _weighted_nll(logp_t, mask, w_t, focal=term == "focal")
    if "dice" in terms or "tversky" in terms:
        probs = logp.exp()
        onehot = F.one_hot(t, k).movedim(-1, 2).to(logits.dtype)
        for term in ("dice", "tversky"):
            if term in terms:
                total = total + _overlap(probs, onehot, mask, term)
    return total


def sparse_loss(logits: torch.Tensor, labels: torch.Tensor, *, loss: str = "ce",
                class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Loss of one model: logits ``(B, K, *spatial)``, labels ``(B, *spatial)`` (0 ignored).

    Examples
    --------
    >>> logits = torch.tensor([[[[4.0, 0.0]], [[0.0, 9.0]]]])  # (1, 2, 1, 2)
    >>> labels = torch.tensor([[[1, 0]]])  # the second pixel is unlabeled
    >>> round(float(sparse_loss(logits, labels)), 4)
    0.0181
    """
    return member_losses(logits.unsqueeze(1), labels.unsqueeze(1), loss=loss,
                         class_weights=class_weights)[0]


class RegressionLoss(StrEnum):
    """Losses of the regression tasks (inpainting, denoising): per-pixel values."""

    L1 = "l1"
    L2 = "l2"
    HUBER = "huber"


#: valid regression losses; sums are written "l1+l2".
REGRESSION_LOSSES = tuple(t.value for t in RegressionLoss)
_HUBER_DELTA = 0.05  # in normalised units (the robust range of the data is 1)


def parse_regression_loss(spec: str) -> tuple[str, ...]:
    """Split ``"l1+l2"`` into valid regression loss terms.

    >>> parse_regression_loss("L1")
    ('l1',)
    """
    terms = tuple(t.strip().lower() for t in str(spec).split("+"))
    for t in terms:
        if t not in REGRESSION_LOSSES:
            valid = ", ".join(repr(n) for n in REGRESSION_LOSSES)
            raise ValueError(f"Unknown regression loss {t!r} in {spec!r}; expected one of "
                             f"{valid} (segmentation losses such as 'ce' are for "
                             "task='segment').")
    return terms


def member_regression_losses(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                             *, loss: str = "l1") -> torch.Tensor:
    """Per-member weighted mean of a regression loss over the known pixels.

    Parameters
    ----------
    pred, target : (B, M, C, *spatial) tensor
        Network outputs and targets (normalised units).
    weight : (B, M, 1 or C, *spatial) tensor
        0 where the truth is unknown (those pixels never count), else the weight.
    loss : str
        "l1", "l2", "huber" or a sum such as "l1+l2".

    Returns
    -------
    (M,) tensor
        0 for a member whose batch has no known pixel (never NaN).

    Examples
    --------
    >>> pred = torch.tensor([1.0, 5.0]).view(1, 1, 1, 2)
    >>> target = torch.zeros(1, 1, 1, 2)
    >>> known = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)  # the 5.0 is not scored
    >>> member_regression_losses(pred, target, known, loss="l1")
    tensor([1.])
    """
    terms = parse_regression_loss(loss)
    diff = pred.float() - target.float()
    weight = weight.float().expand_as(diff)
    dims = (0,) + tuple(range(2, diff.ndim))
    denom = weight.sum(dims).clamp_min(1e-12)
    total = diff.new_zeros(diff.shape[1])
    for term in terms:
        if term == "l1":
            per_pixel = diff.abs()
        elif term == "l2":
            per_pixel = diff.square()
        else:
            per_pixel = F.huber_loss(diff, torch.zeros_like(diff), reduction="none",
                                     delta=_HUBER_DELTA)
        total = total + (per_pixel * weight).sum(dims) / denom
    return total
