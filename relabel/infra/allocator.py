"""Keep freed memory in the process instead of handing it back to the system each batch.

Training allocates and frees large tensors every batch. glibc's defaults return freed
memory to the system (``munmap`` of large blocks, trimming the heap top), and the next
batch faults it back in: on a 2-core machine that was measured as 185,000-220,000 minor
page faults per second and 46 % of the training process's CPU time in the kernel. Raising
glibc's mmap and trim thresholds (``mallopt``) keeps the memory mapped; the probe in
``notes/cpu-time.md`` cut the faults 3x.

:func:`keep_freed_memory` is called once before training starts. It changes only how the
allocator reuses memory, never a computed value. ``RELABEL_MALLOC=system`` leaves glibc's
settings alone; on a C library other than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameters (malloc.h).
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
#: Blocks up to this size come from the heap (reused) rather than a fresh mmap.
MMAP_THRESHOLD = 32 << 20
#: Free memory at the heap top kept before trimming it back to the system.
TRIM_THRESHOLD = 2 << 30
#: Extra memory requested each time the heap grows.
TOP_PAD = 256 << 20

_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's allocator for training (once per process); True when it was tuned.

    Respects glibc's own ``MALLOC_*_`` environment variables and ``RELABEL_MALLOC=system``
    (both: left alone).
    """
    global _done
    if _done:
        return True
    if os.environ.get("RELABEL_MALLOC", "").lower() == "system" or any(
        key.startswith("MALLOC_") and key.endswith("_") for key in os.environ
    ):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = all(
        mallopt(param, value) == 1
        for param, value in (
            (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (M_TOP_PAD, TOP_PAD),
        )
    )
    _done = ok
    logger.debug("glibc allocator tuned for training: %s", ok)
    return ok
