"""Figures of an image classifier: the confusion matrix and an embedding of the representations.

Functions return a :class:`matplotlib.figure.Figure` (no pyplot state, never
``show()``); save it with ``fig.savefig(path)`` or embed it in a Qt canvas.

Examples
--------
>>> fig = confusion_figure(np.array([[5, 1], [0, 3]]), ("fibre", "soot"))
>>> len(fig.axes) >= 1
True
"""

from __future__ import annotations

import numpy as np

__all__ = ["confusion_figure", "embedding_figure", "embed_2d"]


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def confusion_figure(confusion: np.ndarray, class_names, *, title: str | None = None,
                     figsize=(4.6, 4.0)):
    """Counts (true class in rows, predicted in columns), shaded by the row fraction.

    Parameters
    ----------
    confusion : (K, K) int ndarray
    class_names : sequence of str
    title : str, optional
    figsize : tuple

    Returns
    -------
    matplotlib.figure.Figure
    """
    confusion = np.asarray(confusion)
    rows = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    im = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    k = len(class_names)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(int(confusion[i, j])), ha="center", va="center",
                    color="white" if rows[i, j] > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    fig.colorbar(im, ax=ax, label="fraction of the true class", shrink=0.8)
    return fig


def embed_2d(vectors: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """2D t-SNE of representation vectors (N, F) (sklearn; perplexity fitted to N)."""
    from sklearn.manifold import TSNE

    vectors = np.asarray(vectors, np.float64)
    if len(vectors) < 4:
        return np.zeros((len(vectors), 2))
    perplexity = float(min(30.0, (len(vectors) - 1) / 3))
    return TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(vectors)


def embedding_figure(points: np.ndarray, labels, class_names, *, title: str | None = None,
                     figsize=(4.6, 4.0)):
    """The 2D embedding (:func:`embed_2d`) coloured by class.

    Parameters
    ----------
    points : (N, 2) ndarray
    labels : (N,) int sequence
    class_names : sequence of str
    title : str, optional
    figsize : tuple

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps

    points, labels = np.asarray(points), np.asarray(labels)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    for k, name in enumerate(class_names):
        m = labels == k
        ax.scatter(points[m, 0], points[m, 1], s=14, color=cmap(k % 10),
                   label=f"{name} ({m.sum()})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of the image representations")
    ax.legend(fontsize=8, markerscale=1.2, frameon=False)
    return fig
