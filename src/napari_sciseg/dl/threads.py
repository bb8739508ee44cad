"""How many CPU threads torch uses: the cores this process may run on, less the busy ones.

Small convolutions scale poorly over threads, and a second thread fighting another
job for a core costs more than it gives (measured: 2 threads beside a competing
process took 3.2x the CPU time of 1 thread for the same training). So the default
is chosen per run from what the machine has free:

- the cores this process may use: ``os.sched_getaffinity`` (a taskset/cgroup mask,
  a batch system's allocation), not the machine's total;
- minus the cores other work keeps busy: the 1-minute load average, a core counted
  busy from a load of 0.75 on;
- at least 1; ``threads=N`` (``--threads N`` in the CLI) forces N.

:func:`configure_threads` applies the choice once per call: torch's intra-op threads,
one inter-op thread (this package runs no inter-op parallel work; one thread saves an
idle pool), and passive waiting of the OpenMP threads (set before torch starts them
by :func:`passive_openmp`; spinning threads burn a busy machine's cores).
"""

from __future__ import annotations

import logging
import os

__all__ = ["available_cores", "choose_threads", "configure_threads", "passive_openmp"]

logger = logging.getLogger(__name__)

#: load a core must carry to count as busy (a half-used core still helps a second thread).
_BUSY_LOAD = 0.75


def available_cores() -> int:
    """The number of cores this process may run on (its affinity mask), at least 1.

    Examples
    --------
    >>> available_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no affinity API (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def _load() -> float:
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):  # Windows
        return 0.0


def choose_threads(threads: int | None = None, *, cores: int | None = None,
                   load: float | None = None) -> int:
    """The number of torch threads to use: ``threads`` when given, else the free cores.

    Parameters
    ----------
    threads : int, optional
        Force this many threads (``--threads`` in the CLI); must be at least 1.
    cores : int, optional
        Cores available; default :func:`available_cores` (the affinity mask).
    load : float, optional
        Load of other work on the machine; default the 1-minute load average.

    Returns
    -------
    int
        Between 1 and ``cores`` unless forced.

    Examples
    --------
    >>> choose_threads(cores=2, load=0.1)
    2
    >>> choose_threads(cores=2, load=1.0)  # another job holds a core
    1
    >>> choose_threads(3, cores=2, load=5.0)
    3
    """
    if threads is not None:
        if int(threads) != threads or int(threads) < 1:
            raise ValueError(f"threads must be a whole number of at least 1; got {threads!r}.")
        return int(threads)
    cores = available_cores() if cores is None else max(1, int(cores))
    load = _load() if load is None else max(0.0, float(load))
    busy = int(load + (1.0 - _BUSY_LOAD))
    return max(1, min(cores, cores - busy))


def passive_openmp() -> None:
    """Let OpenMP worker threads sleep instead of spinning between parallel regions.

    Takes effect only before torch starts its OpenMP pool (call it before the first
    torch operation; the CLI does so before importing torch). A value the user set
    in ``OMP_WAIT_POLICY`` is kept.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


_INTEROP_SET = False


def configure_threads(threads: int | None = None) -> int:
    """Choose (:func:`choose_threads`) and apply the torch CPU thread count; return it.

    Parameters
    ----------
    threads : int, optional
        Force this many intra-op threads; default: the free cores.

    Returns
    -------
    int
        The intra-op thread count now in use.
    """
    global _INTEROP_SET
    import torch

    n = choose_threads(threads)
    if not _INTEROP_SET:
        _INTEROP_SET = True
        try:  # allowed once per process, before any inter-op work
            torch.set_num_interop_threads(1)
        except RuntimeError:
            logger.debug("inter-op threads already fixed at %d", torch.get_num_interop_threads())
    torch.set_num_threads(n)
    cores = available_cores()
    logger.info("%d torch thread(s): %d core(s) available, load %.2f%s", n, cores, _load(),
                " (forced)" if threads is not None else "")
    if threads is not None and n > cores:
        logger.warning("threads=%d is more than the %d core(s) this process may use; threads "
                       "will share cores.", n, cores)
    return n
