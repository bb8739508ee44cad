"""Which image layer holds which AFM channel, from the layer names the AFM reader gives.

The reader names a channel layer "<scan> <channel>" ("scan1 height", "scan1 Amplitude
Error"); levelling adds "<layer> levelled", which is preferred to its raw channel.
"""

from __future__ import annotations

from ...classify.afm.scans import channel_role

__all__ = ["NONE", "guess_layer", "role_of"]

#: the channel pickers' entry for "no layer"
NONE = "(none)"


def role_of(layer_name: str) -> str | None:
    """Role of a layer named like "<scan> height" or "<scan> Amplitude Error"."""
    lower = layer_name.lower()
    if "levelled" in lower or lower.startswith("afm p(") or "tile classes" in lower:
        return None
    words = layer_name.split()
    for k in range(min(3, len(words)), 0, -1):
        role = channel_role(" ".join(words[-k:]))
        if role is not None:
            return role
    return None


def guess_layer(images: list[str], role: str, current: str = NONE) -> str:
    """The image layer to pick for channel ``role``: the current choice while it exists
    (unless a levelled copy of it appeared), else a levelled copy, else the raw channel."""
    levelled = [n for n in images if n.endswith(" levelled") and role_of(n[:-9]) == role]
    raw = [n for n in images if role_of(n) == role]
    if current in images and f"{current} levelled" not in levelled:
        return current
    return (levelled or raw or [NONE])[0]
