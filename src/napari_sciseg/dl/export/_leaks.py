"""Close the files bioimageio.spec leaves open.

``bioimageio.spec`` opens package files (weights, cover, the ``.zip``) to hash and
read them without closing all of them; their ``ResourceWarning`` then surfaces at a
random later moment in the user's session. Calls into it run under
:func:`closing_leaked_files`, which collects those handles before returning.
"""

from __future__ import annotations

import functools
import gc
import warnings

__all__ = ["closing_leaked_files"]


def closing_leaked_files(func):
    """Decorate ``func`` so that files leaked during the call are closed at its end.

    Parameters
    ----------
    func : callable
        A function that calls into bioimageio.spec / bioimageio.core.

    Returns
    -------
    callable
        The same function; ``ResourceWarning`` is silenced during the call and a
        garbage collection at its end closes the unreachable file objects.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            try:
                return func(*args, **kwargs)
            finally:
                gc.collect()

    return wrapper
