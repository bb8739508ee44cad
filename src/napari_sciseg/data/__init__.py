"""Seeded synthetic sample data, each with its ground truth.

Every generator is deterministic for a seed, runs in well under a second at
its default size, and downloads nothing. Pass ``return_truth=True`` to get the
ground truth used by tests and benchmarks.

- :func:`tem_particles` (``data/particles.py``): bright-field TEM or HAADF-STEM
  nanoparticles, calibrated (~0.2 nm/px).
- :func:`scribbles_2d` (``data/scribbles.py``): a 2D image of disks and lines
  with sparse scribbles (0 unlabeled, 1 background, 2 foreground).
- :func:`fiber_volume` (``data/fibers.py``): a fiber-reinforced-concrete-like
  volume with scribbles on a few slices.
- :func:`fiber_concrete_ct` (``data/fibers_ct.py``): a second, independent fibre
  concrete CT (curved polymer or hooked steel fibres, voids, anisotropic voxels).
- :func:`afm_scan` (``data/afm.py``): a four-channel AFM scan with metadata.
- :func:`scattering_pattern` (``data/scattering.py``): a SAXS-like pattern with Poisson
  counts and the module gaps of a pixel detector (:func:`detector_gaps`).
- :func:`cnt_tem` (``data/cnt.py``): bright-field TEM of carbon nanomaterials
  (fibres, clusters, matrix, mixed; soot, graphene, metal) for image classification;
  :func:`cnt_images` / :func:`write_cnt_dataset` make imbalanced labelled sets.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "particles": ["tem_particles"],
        "scribbles": ["scribbles_2d"],
        "fibers": ["fiber_volume"],
        "fibers_ct": ["fiber_concrete_ct"],
        "afm": ["afm_scan"],
        "scattering": ["scattering_pattern", "detector_gaps"],
        "cnt": ["cnt_tem", "cnt_images", "write_cnt_dataset"],
    },
)
