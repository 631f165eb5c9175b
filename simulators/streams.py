"""Independent, reproducible random streams: one per purpose, all derived from the drive seed.

Keeping streams separate means that, for example, adding a rare object does not change the
sensor noise of the frames that follow, and a chunk of street looks the same in every drive.
"""

from __future__ import annotations

import numpy as np

#: purposes of the streams (the second key of every stream)
STREET = 0x57A7
TRAFFIC = 0x7AF
SENSOR = 0x5E5
RARE = 0x4A4E
SHAPE = 0x5A9E


def substream(seed: int, *keys: int) -> np.random.Generator:
    """A generator keyed by ``seed`` and ``keys`` (negative keys allowed)."""
    words = [k % (1 << 64) for k in (seed, *keys)]
    return np.random.default_rng(words)
