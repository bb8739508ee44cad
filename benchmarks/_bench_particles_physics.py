"""``bench_particles.py --set physics``: every method on the cached abTEM-simulated images.

Reads ``benchmarks/data/particles_physics/<split>/*.npz`` (made by
``make_particles_physics.py``), sizes each image with the true pixel size by
every method, and scores it against the geometric truth (``_particle_scores``).
Writes ``results/particles_physics_<split>.{md,json}`` and two plots.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
from _particle_scores import edge_bias, isolation_scores, jsc, psd_scores

from napari_sciseg.data.particles_sim import load_physics_set
from napari_sciseg.measure import size_particles

METHODS = ("hybrid", "otsu", "local", "edge")
DATA = Path(__file__).parent / "data" / "particles_physics"


def evaluate(split: str, methods=METHODS, split_touching: bool = False) -> list[dict]:
    rows = []
    for name, image, truth, meta in load_physics_set(DATA / split):
        for method in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = size_particles(image, spacing=truth.pixel_size, method=method,
                                     split_touching=split_touching)  # fmt: skip
            parts = res.particles
            row = {"case": name, "mode": str(meta["mode"]), "contrast": str(meta["contrast"]),
                   "size": str(meta["size"]), "method": method, "jsc": jsc(res.mask, truth.mask),
                   "edge_bias_px": edge_bias(res.mask, truth.labels),
                   "mean_true_d_px": float(np.mean(truth.diameters_nm) / truth.pixel_size),
                   }  # fmt: skip
            row.update(isolation_scores(parts, truth))
            row.update(psd_scores(parts, truth))
            rows.append(row)
    return rows


def _mean(rows, key):
    v = np.array([r[key] for r in rows], float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _pooled_isolation(rows):
    kept = sum(r["n_kept"] for r in rows)
    good = sum(r["iso_precision"] * r["n_kept"] for r in rows if r["n_kept"])
    true = sum(r["n_true_isolated"] for r in rows)
    found = sum(r["iso_recall"] * r["n_true_isolated"] for r in rows if r["n_true_isolated"])
    return good / max(kept, 1), found / max(true, 1)


def table(rows) -> list[str]:
    lines = [
        "| mode | contrast | size | method | JSC | edge bias (px) | iso. precision | iso. recall "
        "| diam. err. (matched) | mean diam. err. | KS |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["mode"], r["contrast"], r["size"]) for r in rows},
                  key=lambda k: (k[0], ["high", "mid", "low"].index(k[1]), k[2]))  # fmt: skip
    for key in keys:
        for method in METHODS:
            g = [r for r in rows if (r["mode"], r["contrast"], r["size"]) == key
                 and r["method"] == method]  # fmt: skip
            if not g:
                continue
            p, rc = _pooled_isolation(g)
            lines.append(
                f"| {' | '.join(key)} | {method} | {_mean(g, 'jsc'):.3f} | "
                f"{_mean(g, 'edge_bias_px'):+.2f} | {p:.2f} | {rc:.2f} | "
                f"{100 * _mean(g, 'diam_err_matched'):+.1f}% | "
                f"{100 * _mean(g, 'mean_diam_err'):+.1f}% | {_mean(g, 'ks'):.2f} |"
            )
    return lines


def checks(rows, method: str) -> dict:
    g = [r for r in rows if r["method"] == method]
    hm = [r for r in g if r["contrast"] in ("high", "mid")]
    p, rc = _pooled_isolation(g)
    bias = {m: _mean([r for r in g if r["mode"] == m], "edge_bias_px") for m in ("bf", "haadf")}
    return {
        "mean JSC (target >= 0.88)": _mean(g, "jsc"),
        "HAADF JSC (target >= 0.92)": _mean([r for r in g if r["mode"] == "haadf"], "jsc"),
        "BF low-contrast JSC (target >= 0.70)": _mean(
            [r for r in g if r["mode"] == "bf" and r["contrast"] == "low"], "jsc"
        ),
        "edge bias BF px (target |.| <= 0.5)": bias["bf"],
        "edge bias HAADF px (target |.| <= 0.5)": bias["haadf"],
        "isolated precision (target >= 0.9)": p,
        "isolated recall (target >= 0.7)": rc,
        "mean |diameter error| high+mid, matched (target <= 5%)": _mean(hm, "abs_diam_err_matched"),
        "mean-diameter error high+mid (target |.| <= 5%)": _mean(hm, "mean_diam_err"),
    }


def plots(rows, outdir: Path, split: str) -> list[str]:
    from matplotlib.figure import Figure

    colors = {"hybrid": "#c0392b", "otsu": "#2c7fb8", "local": "#7f7f7f", "edge": "#27ae60"}
    names = []
    for kind in ("contrast", "size"):
        fig = Figure(figsize=(8, 3.2), layout="constrained")
        for k, mode in enumerate(("bf", "haadf")):
            ax = fig.add_subplot(1, 2, k + 1)
            for method in METHODS:
                g = [r for r in rows if r["mode"] == mode and r["method"] == method]
                if kind == "contrast":
                    ys = [_mean([r for r in g if r["contrast"] == c], "jsc")
                          for c in ("high", "mid", "low")]  # fmt: skip
                    ax.plot(["high", "mid", "low"], ys, "o-", color=colors[method], label=method)
                else:
                    ax.scatter([r["mean_true_d_px"] for r in g], [r["jsc"] for r in g], s=12,
                               color=colors[method], label=method, alpha=0.7)  # fmt: skip
                    ax.set_xscale("log")
                    ax.set_xlabel("mean particle diameter (px)")
            ax.set_title(f"{mode.upper()} (physics, {split}): JSC vs {kind}")
            ax.set_ylim(0, 1)
            ax.set_ylabel("JSC")
            ax.legend(fontsize=8)
        name = f"particles_physics_{split}_jsc_vs_{kind}.png"
        fig.savefig(outdir / name, dpi=110)
        names.append(name)
    return names


def run(split: str, outdir: Path, split_touching: bool = False) -> None:
    rows = evaluate(split, split_touching=split_touching)
    lines = table(rows)
    print("\n".join(lines))
    all_checks = {m: checks(rows, m) for m in METHODS}
    for m, c in all_checks.items():
        print(m, {k: round(v, 3) for k, v in c.items()})
    figs = plots(rows, outdir, split)
    stem = f"particles_physics_{split}"
    (outdir / f"{stem}.json").write_text(json.dumps({"rows": rows, "checks": all_checks}, indent=1))
    n = len({r["case"] for r in rows})
    md = [
        f"# Particle sizing on the physics set, split `{split}` "
        "(`python benchmarks/bench_particles.py --set physics --split " + split + "`)",
        "",
        f"{n} abTEM-simulated 256x256 images (`benchmarks/data/particles_physics/{split}`), "
        "sized with the true pixel size and default settings. Scores: see "
        "`benchmarks/_particle_scores.py`. Isolated precision/recall are pooled over the "
        "images of a row; the other columns are means over images.",
        "",
        *lines,
        "",
        "## Targets (all images of the split)",
        "",
        "| check | " + " | ".join(METHODS) + " |",
        "|---|" + "---|" * len(METHODS),
        *[f"| {k} | " + " | ".join(f"{all_checks[m][k]:.3f}" for m in METHODS) + " |"
          for k in all_checks[METHODS[0]]],  # fmt: skip
        "",
        *[f"![{f}]({f})" for f in figs],
        "",
    ]
    (outdir / f"{stem}.md").write_text("\n".join(md))
    print(f"wrote {outdir / (stem + '.md')}")
