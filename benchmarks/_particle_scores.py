"""Scores of a particle sizing result against a geometric truth (physics benchmark).

- ``jsc``: Jaccard of the semantic masks;
- ``edge_bias_px``: signed mean displacement of the boundary along its normal,
  ``(|P ∩ N| - |T ∩ N|) / perimeter(T ∩ N)`` over the truth particles that were
  found (``N``: their footprints grown by 3 px), in pixels; negative = inside;
- isolated precision / recall: a particle kept as isolated is correct when the
  truth particle under most of it is truly isolated (and covers at least half of
  it); recall counts the truly isolated particles that were kept;
- diameter error: mean over the kept particles matched to a truly isolated one of
  ``d / d_true - 1``, and the error of the mean diameter; KS between the PSDs.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def jsc(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _perimeter(mask: np.ndarray) -> float:
    """Number of 4-neighbour transitions / (4 / pi): a Crofton estimate in pixels."""
    m = np.pad(mask, 1)
    edges = (m[1:] != m[:-1]).sum() + (m[:, 1:] != m[:, :-1]).sum()
    return float(edges) * np.pi / 4


def edge_bias(pred: np.ndarray, labels: np.ndarray) -> float:
    """Signed edge displacement (px) over the truth particles that ``pred`` found."""
    n = int(labels.max())
    if n == 0:
        return float("nan")
    area = np.bincount(labels.ravel(), minlength=n + 1)
    hit = np.bincount(labels[pred].ravel(), minlength=n + 1)
    found = (hit >= 0.5 * area) & (area > 0)
    found[0] = False
    truth = found[labels]
    if not truth.any():
        return float("nan")
    near = ndi.binary_dilation(truth, np.ones((3, 3)), iterations=3)
    # keep only predicted pixels near found particles and not near missed ones
    missed = ndi.binary_dilation((labels > 0) & ~truth, np.ones((3, 3)), iterations=3)
    zone = near & ~(missed & ~truth)
    return float(((pred & zone).sum() - truth.sum()) / max(_perimeter(truth), 1.0))


def isolation_scores(res, truth) -> dict:
    """Precision/recall of "isolated" and the diameter errors of the kept particles."""
    labels = res.labels
    t = truth.labels
    n = int(labels.max())
    kept = np.flatnonzero(res.isolated) + 1
    match = np.zeros(n + 1, int)
    if n:
        pairs = np.stack([labels.ravel(), t.ravel()])
        pairs = pairs[:, pairs[0] > 0]
        counts: dict = {}
        uniq, cnt = np.unique(pairs, axis=1, return_counts=True)
        size = np.bincount(labels.ravel(), minlength=n + 1)
        for (a, b), c in zip(uniq.T, cnt, strict=True):
            if b > 0 and c > counts.get(a, (0, 0))[1]:
                counts[a] = (b, c)
        for a, (b, c) in counts.items():
            if c >= 0.5 * size[a]:
                match[a] = b
    m = match[kept]
    good = (m > 0) & truth.isolated[np.maximum(m, 1) - 1]
    true_iso = np.flatnonzero(truth.isolated) + 1
    recall = float(np.isin(true_iso, m[good]).mean()) if true_iso.size else float("nan")
    precision = float(good.mean()) if kept.size else float("nan")
    d = res.table[f"diameter_{res.unit}"][kept - 1]
    d_true = truth.diameters_nm[np.maximum(m, 1) - 1]
    per = d[good] / d_true[good] - 1 if good.any() else np.array([np.nan])
    return {"iso_precision": precision, "iso_recall": recall, "n_kept": int(kept.size),
            "n_true_isolated": int(true_iso.size), "diam_err_matched": float(np.mean(per)),
            "abs_diam_err_matched": float(np.mean(np.abs(per)))}  # fmt: skip


def psd_scores(res, truth) -> dict:
    from scipy.stats import ks_2samp

    d = res.diameters
    d_true = truth.diameters_nm[truth.isolated]
    if d.size == 0 or d_true.size == 0:
        return {"mean_diam_err": float("nan"), "ks": 1.0}
    return {"mean_diam_err": float(d.mean() / d_true.mean() - 1),
            "ks": float(ks_2samp(d, d_true).statistic)}  # fmt: skip
