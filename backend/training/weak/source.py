"""A weakly-labelled drive as a training source (``backend.training.sources.FrameSource``).

It reads like a replayed drive (one group, labelled frames, identity = points digest) under the
name ``weak:<dir>``, and refuses a directory that is not marked weak (``store``), as a replay
source refuses one that is: a human- or simulator-labelled drive is never counted as weak, nor a
weak one as ground truth. Training sets take weak sources apart from the others
(``backend.training.sets``): their frames go to the training split only and are counted per
class in the manifest.
"""

from __future__ import annotations

from backend.training.sources import DriveSource


class WeakSource(DriveSource):
    """The frames of one weakly-labelled drive (``store.write_weak_drive``)."""

    weak = True

    @property
    def name(self) -> str:
        return f"weak:{self.root.name}"
