"""A trained ensemble as the segmenter of particle sizing (``size_particles(model=...)``).

:func:`napari_sciseg.measure.size_particles` takes any callable ``image -> mask``
as ``model``, so the numpy layer never imports this engine; this module makes
one from a ``.sciseg`` file through the public prediction API, after checking
that the model can segment a 2D gray image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["ParticleSegmenter", "particle_segmenter"]


class ParticleSegmenter:
    """Callable ``(Y, X) image -> (Y, X) bool`` particle mask from a trained ensemble.

    The mask is where the particle class has the highest mean probability
    (holes filled, specks under 6 px removed).
    """

    def __init__(self, trained, particle_class: int):
        self.trained = trained
        self.particle_class = int(particle_class)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from ..segment.postprocess import fill_holes, remove_small
        from .prediction import predict

        mean = np.asarray(predict(self.trained, np.asarray(image, np.float32)).mean)
        mask = mean.argmax(axis=0) + 1 == self.particle_class
        return remove_small(fill_holes(mask), 6)


def _check(cfg) -> None:
    if int(cfg.model_ndim) != 2:
        raise ValueError(
            f"model segments {cfg.dim}D data; particle sizing needs a 2D model (trained with "
            "dim 2 on single images)."
        )
    if int(cfg.in_channels) != 1:
        raise ValueError(
            f"model expects {cfg.in_channels} input channels; particle sizing gives it one gray "
            "image. Use a model trained on gray (1-channel) images."
        )
    if int(cfg.n_classes) < 2:
        raise ValueError(f"model has {cfg.n_classes} class; particle sizing needs 2 or more.")


def particle_segmenter(model, particle_class: int | None = None) -> ParticleSegmenter:
    """Load (if a path) and check a trained model; return it as a particle segmenter.

    Parameters
    ----------
    model : TrainedModel or path to a ``.sciseg`` file
        A 2D ensemble trained on one-channel images.
    particle_class : int, optional
        The particle class, 1..K; default the class named like "particle", else the last.

    Returns
    -------
    ParticleSegmenter

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file; a 3D model, another channel count, or a bad ``particle_class``.
    """
    from .serialization import load_model

    if isinstance(model, str | Path):
        path = Path(model)
        if not path.exists():
            raise FileNotFoundError(f"model file not found: {path}")
        model = load_model(path)
    cfg = model.config
    _check(cfg)
    n = int(cfg.n_classes)
    if particle_class is None:
        names = [str(c).lower() for c in (cfg.class_names or ())]
        hits = [i + 1 for i, c in enumerate(names) if "particle" in c]
        particle_class = hits[0] if hits else n
    if not 1 <= int(particle_class) <= n:
        raise ValueError(f"particle class must be in 1..{n} for this model; got {particle_class}.")
    return ParticleSegmenter(model, int(particle_class))
