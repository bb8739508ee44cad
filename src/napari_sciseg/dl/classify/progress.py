"""The progress record yielded by every image-classification job."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClassifyProgress"]


@dataclass(frozen=True)
class ClassifyProgress:
    """One step of a long job: ``stage`` (``"features"``, ``"fit"``, ``"fold"``...), done/total."""

    stage: str
    done: int
    total: int
    message: str = ""
