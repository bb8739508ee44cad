"""Particle size distribution figures (matplotlib ``Figure`` API, never pyplot)."""

from __future__ import annotations

import numpy as np

__all__ = ["psd_figure", "draw_psd", "draw_psd_comparison"]


def draw_psd(ax, diameters, psd, *, bins="auto", title: str | None = None) -> None:
    """Draw a PSD histogram with its log-normal fit and a summary box on ``ax``.

    Parameters
    ----------
    ax : matplotlib Axes
    diameters : (N,) array-like
        Diameters of the isolated particles, in ``psd.unit``.
    psd : PSDSummary
        Their summary (:func:`napari_sciseg.measure.psd_summary`).
    bins : int, sequence or str
        Passed to ``numpy.histogram_bin_edges``.
    title : str, optional
    """
    d = np.asarray(diameters, float)
    d = d[np.isfinite(d) & (d > 0)]
    unit = psd.unit
    ax.clear()
    if d.size == 0:
        ax.text(0.5, 0.5, "no isolated particles", ha="center", va="center", transform=ax.transAxes)
    else:
        edges = np.histogram_bin_edges(d, bins=bins if d.size > 1 else 5)
        ax.hist(d, bins=edges, color="#7aa6c2", edgecolor="white", label=f"isolated (n={d.size})")
        x = np.linspace(max(edges[0] * 0.8, 1e-6), edges[-1] * 1.1, 200)
        pdf = psd.lognorm_pdf(x)
        if np.isfinite(pdf).all():
            width = float(np.mean(np.diff(edges)))
            ax.plot(x, pdf * d.size * width, color="#c0392b", lw=2, label="log-normal fit")
        text = (
            f"n = {psd.count}\nmean {psd.mean:.2f} ± {psd.sd:.2f}\nmedian {psd.median:.2f}\n"
            f"D10/50/90 {psd.d10:.2f}/{psd.d50:.2f}/{psd.d90:.2f}\n"
            f"log-normal σ {psd.lognorm_sigma:.3f}"
        )
        ax.text(
            0.98,
            0.97,
            text,
            ha="right",
            va="top",
            transform=ax.transAxes,
            fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"},
        )
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    label = "diameter (nm)" if unit == "nm" else "diameter (pixels, uncalibrated)"
    ax.set_xlabel(label)
    ax.set_ylabel("count")
    calib = f"calibration: {psd.calibration}"
    ax.set_title(f"{title}\n{calib}" if title else calib, fontsize=9)


def psd_figure(result, *, bins="auto", title: str | None = None, figsize=(5.0, 3.6)):
    """A standalone figure of the PSD of a :class:`~napari_sciseg.measure.ParticleResult`.

    Parameters
    ----------
    result : ParticleResult
    bins : int, sequence or str
    title : str, optional
    figsize : (float, float)

    Returns
    -------
    matplotlib.figure.Figure
        Save it with ``fig.savefig(path)``; no GUI is involved.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_sciseg.measure import particles
    >>> yy, xx = np.mgrid[:64, :64]
    >>> mask = ((yy - 20) ** 2 + (xx - 20) ** 2 < 64) | ((yy - 45) ** 2 + (xx - 40) ** 2 < 100)
    >>> fig = psd_figure(particles(mask, spacing=0.2))
    >>> fig.axes[0].get_xlabel()
    'diameter (nm)'
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.add_subplot()
    draw_psd(ax, result.diameters, result.psd, bins=bins, title=title)
    return fig


def draw_psd_comparison(ax, pred_diameters, true_diameters, *, unit: str = "pixel",
                        ks: float | None = None, bins="auto") -> None:
    """Draw predicted and true particle size distributions over each other on ``ax``.

    Parameters
    ----------
    ax : matplotlib Axes
    pred_diameters, true_diameters : (n,) array-like
        Diameters in ``unit``.
    unit : str
        ``"pixel"`` when uncalibrated.
    ks : float, optional
        Kolmogorov-Smirnov distance, shown in the title.
    bins : int, sequence or str
        Passed to ``numpy.histogram_bin_edges`` over both sets together.

    Examples
    --------
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> draw_psd_comparison(ax, [10, 11, 12], [10, 12, 14], unit="nm", ks=0.33)
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['prediction (n=3)', 'truth (n=3)']
    """
    p = np.asarray(pred_diameters, float)
    t = np.asarray(true_diameters, float)
    p, t = p[np.isfinite(p) & (p > 0)], t[np.isfinite(t) & (t > 0)]
    ax.clear()
    both = np.concatenate([p, t])
    if both.size == 0:
        ax.text(0.5, 0.5, "no isolated particles", ha="center", va="center",
                transform=ax.transAxes)
    else:
        edges = np.histogram_bin_edges(both, bins=bins if both.size > 1 else 5)
        ax.hist(t, bins=edges, color="0.6", alpha=0.6, label=f"truth (n={t.size})")
        ax.hist(p, bins=edges, histtype="step", color="#c0392b", lw=2,
                label=f"prediction (n={p.size})")
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: not labels[i].startswith("prediction"))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper right",
                  fontsize=8, frameon=False)
    ax.set_xlabel("diameter (pixels, uncalibrated)" if unit == "pixel" else f"diameter ({unit})")
    ax.set_ylabel("count")
    ax.set_title("particle sizes" + (f": KS distance {ks:.3f}" if ks is not None else ""),
                 fontsize=9)
