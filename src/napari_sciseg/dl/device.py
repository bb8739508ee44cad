"""Choosing the torch device, with a clear message about which one runs."""

from __future__ import annotations

import logging

import torch

from .._validation import check_choice

__all__ = ["resolve_device"]

logger = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> tuple[torch.device, str]:
    """Return the torch device and a one-line message for ``auto|cpu|cuda|mps``.

    ``auto`` picks CUDA, then Apple MPS, then the CPU. Asking for a device that
    is not available raises a ValueError.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "mps"} or "cuda:N"
        The device asked for.

    Returns
    -------
    device : torch.device
    message : str
        What was picked, for the user.

    Examples
    --------
    >>> resolve_device("cpu")[0]
    device(type='cpu')
    """
    device = str(device).lower()
    check_choice("device", device.split(":")[0], ["auto", "cpu", "cuda", "mps"])
    has_cuda = torch.cuda.is_available()
    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if device == "auto":
        if has_cuda:
            device = "cuda"
        elif has_mps:
            device = "mps"
        else:
            device = "cpu"
            msg = f"running on the CPU ({torch.get_num_threads()} threads; no CUDA or MPS device)"
            logger.info(msg)
            return torch.device("cpu"), msg
    if device.startswith("cuda"):
        if not has_cuda:
            raise ValueError("device 'cuda' was requested but no CUDA GPU is available; "
                             "use device='auto' or 'cpu'.")
        dev = torch.device(device)
        msg = f"running on CUDA GPU {torch.cuda.get_device_name(dev)}"
    elif device == "mps":
        if not has_mps:
            raise ValueError("device 'mps' was requested but Apple MPS is not available; "
                             "use device='auto' or 'cpu'.")
        dev, msg = torch.device("mps"), "running on the Apple GPU (MPS)"
    else:
        dev = torch.device("cpu")
        msg = f"running on the CPU ({torch.get_num_threads()} threads)"
    logger.info(msg)
    return dev, msg
