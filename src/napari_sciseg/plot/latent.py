"""Scatter plots of latent spaces (matplotlib ``Figure`` API, never pyplot)."""

from __future__ import annotations

import numpy as np

__all__ = ["draw_embedding", "embedding_figure", "cluster_colors"]


def cluster_colors(clusters: np.ndarray | None, n: int) -> np.ndarray:
    """RGBA per point: tab10 by cluster id (1..K), grey for 0 (noise) or no clusters.

    >>> cluster_colors(np.array([0, 1, 2]), 3).shape
    (3, 4)
    """
    from matplotlib import colormaps

    if clusters is None:
        return np.tile([0.35, 0.45, 0.6, 1.0], (n, 1))
    cmap = colormaps["tab10"]
    clusters = np.asarray(clusters)
    rgba = np.array([cmap((int(c) - 1) % 10) for c in clusters], float).reshape(-1, 4)
    rgba[clusters == 0] = (0.6, 0.6, 0.6, 1.0)
    return rgba


def draw_embedding(ax, xy: np.ndarray, *, clusters: np.ndarray | None = None,
                   selected: np.ndarray | None = None, title: str | None = None,
                   axis_names=("UMAP 1", "UMAP 2"), names=None) -> object:
    """Draw the 2-D points of tiles on ``ax``, coloured by cluster; return the collection.

    Parameters
    ----------
    ax : matplotlib Axes
    xy : (N, 2) ndarray
    clusters : (N,) int ndarray, optional
    selected : (N,) bool ndarray, optional
        Points drawn larger with a black edge.
    title : str, optional
    axis_names : pair of str
    names : sequence of str, optional
        Legend label of cluster id 1, 2, ... (default "cluster <id>").
    """
    xy = np.asarray(xy, float)
    ax.clear()
    sizes = np.full(len(xy), 10.0)
    edges = np.zeros((len(xy), 4))
    if selected is not None and np.any(selected):
        sizes[selected] = 36.0
        edges[selected] = (0, 0, 0, 1)
    points = ax.scatter(xy[:, 0], xy[:, 1], s=sizes, c=cluster_colors(clusters, len(xy)),
                        edgecolors=edges, linewidths=0.8)
    if clusters is not None:
        for c in np.unique(clusters):
            ax.scatter([], [], s=20, c=cluster_colors(np.array([c]), 1),
                       label="noise" if c == 0 else (names[c - 1] if names is not None
                                                     else f"cluster {c}"))
        ax.legend(loc="best", fontsize=7, frameon=False, markerscale=1.2)
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title or f"{len(xy)} tiles", fontsize=9)
    return points


def embedding_figure(xy: np.ndarray, *, clusters: np.ndarray | None = None,
                     title: str | None = None, axis_names=("UMAP 1", "UMAP 2"), names=None):
    """A matplotlib Figure with :func:`draw_embedding` (save it with ``fig.savefig``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4.5), dpi=120)
    ax = fig.add_subplot()
    draw_embedding(ax, xy, clusters=clusters, title=title, axis_names=axis_names, names=names)
    fig.tight_layout()
    return fig
