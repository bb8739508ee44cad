"""Generate the cached physics particle sets (needs the ``sim`` extra: abTEM + ase).

    python benchmarks/make_particles_physics.py            # dev (seeds 1000+) and held-out (5000+)

Writes ``benchmarks/data/particles_physics/{dev,heldout}/<mode>_<contrast>_<size>_<seed>.npz``:
2 modalities x 3 contrasts x 2 size classes x ``--seeds`` images of 256^2. The
held-out split uses other seeds and was never looked at while tuning.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from napari_sciseg.data.particles_sim import (
    load_case,
    save_case,
    simulate_particles,
    simulated_truth,
)

#: size class -> (diameter range nm, pixel size nm)
SIZES = {"small": ((2.0, 6.0), 0.1), "large": ((5.0, 15.0), 0.15)}
SPLITS = {"dev": 1000, "heldout": 5000}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--split", choices=sorted(SPLITS), nargs="+", default=sorted(SPLITS))
    p.add_argument("--truth-only", action="store_true", help="recompute the truth of cached files")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "particles_physics")
    args = p.parse_args()
    for split in args.split:
        folder = args.out / split
        folder.mkdir(parents=True, exist_ok=True)
        k = SPLITS[split]
        for mode in ("haadf", "bf"):
            for contrast in ("high", "mid", "low"):
                for size, (size_range, pixel) in SIZES.items():
                    for _ in range(args.seeds):
                        k += 1
                        path = folder / f"{mode}_{contrast}_{size}_{k}.npz"
                        if args.truth_only and path.exists():
                            image, _, meta = load_case(path)
                            truth = simulated_truth(size_range=size_range, pixel_size=pixel, seed=k)
                            save_case(path, image, truth, **meta)
                            continue
                        if path.exists() or args.truth_only:
                            continue
                        t = time.time()
                        image, truth = simulate_particles(
                            mode, contrast=contrast, size_range=size_range, pixel_size=pixel,
                            seed=k,
                        )  # fmt: skip
                        save_case(path, image, truth, mode=mode, contrast=contrast, size=size,
                                  seed=k)  # fmt: skip
                        print(f"{path.name}: {len(truth.diameters_nm)} particles, "
                              f"{truth.isolated.sum()} isolated, {time.time() - t:.0f} s",
                              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
