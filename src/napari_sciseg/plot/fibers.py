"""Figures of a fiber measurement: length histogram and orientations on a Hammer map.

Functions return a :class:`matplotlib.figure.Figure` (no pyplot state, never
``show()``); save it with ``fig.savefig(path)`` or embed it in a Qt canvas.
Directions (z, y, x) map to longitude = atan2(dy, dx) and latitude = asin(dz):
the centre of the map is +x, the poles are ±z. Fibers are axial, so every map
is point-symmetric about its centre.
"""

from __future__ import annotations

import numpy as np

__all__ = ["length_histogram", "orientation_figure", "hammer_axes_data"]


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def length_histogram(
    lengths: np.ndarray,
    *,
    unit: str = "voxel",
    bins: int | str = "auto",
    truth: np.ndarray | None = None,
    label: str = "end-to-end length",
    fig=None,
):
    """Histogram of fiber lengths (optionally against the true lengths).

    Parameters
    ----------
    lengths : (n,) ndarray
        Measured lengths.
    unit : str
        Axis unit label.
    bins : int or str
        As :func:`numpy.histogram_bin_edges`.
    truth : (m,) ndarray, optional
        True lengths, drawn as an outline.
    fig : matplotlib Figure, optional
        Figure to draw into (cleared); a new one by default.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = length_histogram(np.array([10.0, 12.0, 30.0]), unit="µm")
    >>> fig.axes[0].get_xlabel()
    'end-to-end length (µm)'
    """
    lengths = np.asarray(lengths, float)
    fig = _figure((5, 3.5)) if fig is None else fig
    fig.clear()
    ax = fig.add_subplot()
    both = lengths if truth is None else np.concatenate([lengths, np.asarray(truth, float)])
    edges = np.histogram_bin_edges(both, bins=bins) if both.size else np.linspace(0, 1, 2)
    ax.hist(lengths, bins=edges, color="tab:blue", alpha=0.8, label=f"measured (n={lengths.size})")
    if truth is not None:
        ax.hist(
            truth, bins=edges, histtype="step", color="k", lw=1.5, label=f"true (n={len(truth)})"
        )
    if lengths.size:
        med = float(np.median(lengths))
        ax.axvline(med, color="tab:red", ls="--", lw=1, label=f"median {med:.3g}")
    else:
        ax.text(0.5, 0.5, "no fibres", transform=ax.transAxes, ha="center", va="center",
                fontsize="large", color="0.4")  # fmt: skip
    ax.set_xlabel(f"{label} ({unit})")
    ax.set_ylabel("fibers")
    ax.legend(frameon=False, fontsize="small")
    return fig


def _lonlat(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(directions, float)
    return np.arctan2(d[:, 1], d[:, 2]), np.arcsin(np.clip(d[:, 0], -1, 1))


def hammer_axes_data(shell, n_lat: int = 90):
    """Resample a :class:`~napari_sciseg.measure.orientation.ShellAutocorrelation`
    on a longitude/latitude grid (nearest sample direction).

    Returns
    -------
    longitude : (2 * n_lat,) ndarray
    latitude : (n_lat,) ndarray
    values : (n_lat, 2 * n_lat) ndarray
    """
    from scipy.spatial import cKDTree

    lat = (np.arange(n_lat) + 0.5) / n_lat * np.pi - np.pi / 2
    lon = (np.arange(2 * n_lat) + 0.5) / (2 * n_lat) * 2 * np.pi - np.pi
    glon, glat = np.meshgrid(lon, lat)
    grid = np.stack([np.sin(glat), np.cos(glat) * np.sin(glon), np.cos(glat) * np.cos(glon)], -1)
    _, idx = cKDTree(shell.directions).query(grid.reshape(-1, 3))
    return lon, lat, np.asarray(shell.values)[idx].reshape(glat.shape)


def _hammer(ax, lon, lat, values, title, cbar_label, fig):
    mesh = ax.pcolormesh(lon, lat, values, shading="nearest", cmap="magma", rasterized=True)
    ax.grid(True, color="w", alpha=0.3, lw=0.5)
    ax.set_xticklabels([])
    ax.set_yticklabels([])
    ax.set_title(title, fontsize="medium", pad=14)
    fig.colorbar(mesh, ax=ax, orientation="horizontal", shrink=0.6, label=cbar_label)
    for text, x, y in (("+x", 0, 0), ("+y", np.pi / 2, 0), ("-y", -np.pi / 2, 0)):
        ax.annotate(text, (x, y), color="w", fontsize="small", ha="center", va="center")


def orientation_figure(
    *,
    shell=None,
    directions: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    truth_directions: np.ndarray | None = None,
    bandwidth: float = 10.0,
    note: str | None = None,
    vertical: bool = False,
    fig=None,
):
    """Hammer maps of fiber orientation: autocorrelation shell and/or per-fiber density.

    Parameters
    ----------
    shell : ShellAutocorrelation, optional
        From :func:`napari_sciseg.measure.autocorrelation_shell`.
    directions : (n, 3) ndarray, optional
        Per-fiber unit vectors (z, y, x), drawn as a kernel density
        (:func:`napari_sciseg.measure.direction_density`) with the fibers as dots.
    weights : (n,) ndarray, optional
        Weights of ``directions`` (e.g. lengths).
    truth_directions : (m, 3) ndarray, optional
        Known directions, drawn as open circles.
    bandwidth : float
        Density kernel width in degrees.
    note : str, optional
        Without ``shell`` and ``directions`` (e.g. no fibre was found): an empty
        Hammer panel carrying this note instead of an error.
    vertical : bool
        Stack the panels (for a narrow dock) instead of placing them side by side.
    fig : matplotlib Figure, optional

    Returns
    -------
    matplotlib.figure.Figure
        One Hammer panel per input given.

    Examples
    --------
    >>> fig = orientation_figure(directions=np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 0.995]]))
    >>> fig.axes[0].name
    'hammer'
    """
    from ..measure.orientation import direction_density

    panels = [
        p for p in ("shell", "density") if (shell if p == "shell" else directions) is not None
    ]
    if not panels and note is None:
        raise ValueError("orientation_figure needs shell=..., directions=... or both.")
    if not panels:
        fig = _figure((5.5, 3.6)) if fig is None else fig
        fig.clear()
        ax = fig.add_subplot(1, 1, 1, projection="hammer")
        ax.grid(True, alpha=0.3, lw=0.5)
        ax.set_xticklabels([])
        ax.set_title("fiber directions (n = 0)", fontsize="medium", pad=14)
        ax.text(0, 0, note, ha="center", va="center", fontsize="large", color="0.3")
        return fig
    fig = _figure((5.5 * len(panels), 3.6)) if fig is None else fig
    fig.clear()
    for k, panel in enumerate(panels, start=1):
        grid = (len(panels), 1) if vertical else (1, len(panels))
        ax = fig.add_subplot(*grid, k, projection="hammer")
        if panel == "shell":
            lon, lat, values = hammer_axes_data(shell)
            _hammer(
                ax,
                lon,
                lat,
                values,
                f"autocorrelation, r = {shell.radius:.3g}",
                "P(fiber at r·d | fiber)",
                fig,
            )
        else:
            d = np.atleast_2d(np.asarray(directions, float)).reshape(-1, 3)
            lon, lat, dens = direction_density(d, weights=weights, bandwidth=bandwidth)
            _hammer(ax, lon, lat, dens, f"fiber directions (n = {len(d)})", "density (1/sr)", fig)
            for sign in (1, -1):
                x, y = _lonlat(sign * d)
                ax.plot(x, y, ".", ms=2, color="c", alpha=0.7)
        if truth_directions is not None:
            for sign in (1, -1):
                x, y = _lonlat(sign * np.asarray(truth_directions, float))
                ax.plot(x, y, "o", mfc="none", mec="w", ms=4, mew=0.6)
    return fig
