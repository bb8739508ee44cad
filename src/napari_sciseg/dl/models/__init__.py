"""Segmentation networks: one file per architecture, a shared base and a registry.

>>> sorted(list_models())
['msdnet', 'smsnet', 'tunet', 'tunet3plus']
"""

from __future__ import annotations

from enum import StrEnum

from .base import SegmentationModel
from .ensemble import Ensemble, RegressionEnsemble
from .msdnet import MSDNet
from .smsnet import SMSNet
from .tunet import TUNet
from .tunet3plus import TUNet3Plus

__all__ = ["Arch", "create_model", "list_models", "model_from_config", "SegmentationModel",
           "Ensemble", "RegressionEnsemble", "SMSNet", "TUNet", "TUNet3Plus", "MSDNet"]



class Arch(StrEnum):
    """Registry names of the member architectures (a ``str``: ``Arch.TUNET == "tunet"``)."""

    SMSNET = "smsnet"
    TUNET = "tunet"
    MSDNET = "msdnet"
    TUNET3PLUS = "tunet3plus"


_REGISTRY: dict[str, type[SegmentationModel]] = {
    Arch.SMSNET.value: SMSNet,
    Arch.TUNET.value: TUNet,
    Arch.MSDNET.value: MSDNet,
    Arch.TUNET3PLUS.value: TUNet3Plus,
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model` (the values of :class:`Arch`).

    Returns
    -------
    list of str
        The registered architecture names.

    Examples
    --------
    >>> "smsnet" in list_models()
    True
    """
    return list(_REGISTRY)


def create_model(name: str, *, ndim: int, in_channels: int, out_channels: int,
                 seed: int = 0, **kwargs) -> SegmentationModel:
    """Build a network by registry name.

    Parameters
    ----------
    name : {"smsnet", "tunet", "msdnet", "tunet3plus"}
        Architecture (case-insensitive).
    ndim : {2, 3}
        Spatial dimensions.
    in_channels, out_channels : int
        Image channels and classes K.
    seed : int
        Seed of random architecture choices and initial weights.
    **kwargs
        Hyperparameters of the architecture (see its class).

    Returns
    -------
    SegmentationModel
        The network (a torch module with ``arch``, ``ndim`` and a ``config`` dict).

    Examples
    --------
    >>> net = create_model("msdnet", ndim=3, in_channels=2, out_channels=3, depth=3)
    >>> net.arch, net.ndim
    ('msdnet', 3)
    """
    key = str(name).lower()
    if key not in _REGISTRY:
        valid = ", ".join(repr(n) for n in _REGISTRY)
        raise ValueError(f"Unknown architecture {name!r}; expected one of {valid}.")
    return _REGISTRY[key](ndim=ndim, in_channels=in_channels, out_channels=out_channels,
                          seed=seed, **kwargs)


def model_from_config(config: dict) -> SegmentationModel:
    """Rebuild a network (untrained weights) from its :attr:`~SegmentationModel.config`."""
    if config.get("arch") == "ensemble":
        return Ensemble([model_from_config(c) for c in config["kwargs"]["members"]])
    return create_model(config["arch"], ndim=config["ndim"], in_channels=config["in_channels"],
                        out_channels=config["out_channels"], **config.get("kwargs", {}))
