"""Where a benchmark ran: every results JSON names its machine with :func:`describe_machine`."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform.processor()`` is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe_machine(**extra: Any) -> dict[str, Any]:
    """Platform, CPU model, core count, load and Python; ``extra`` adds library versions etc.

    The load average is recorded because these machines are shared: numbers taken under load
    are slower, and a reader should know.
    """
    import numpy as np

    return {
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15_min": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "numpy": np.__version__,
        **extra,
    }
