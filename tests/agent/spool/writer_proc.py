"""A child process that spools frames as fast as it can, for the kill -9 test.

Prints ``try``/``put`` before/after each put and ``acking``/``ack`` before/after each ack,
flushed, so the parent knows what was committed (and what may be half-removed) when it pulled
the plug.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.spool.spool import Spool
from tests.agent.spool.helpers import make_record


def main() -> None:
    spool = Spool.open(Path(sys.argv[1]), 10**9)
    n = 0
    while True:
        record = make_record(priority=float(n % 5), size=20_000)
        print(f"try {record.frame_id}", flush=True)
        spool.put(record)
        print(f"put {record.frame_id}", flush=True)
        if n % 3 == 0:
            print(f"acking {record.frame_id}", flush=True)
            spool.ack(record.frame_id)
            print(f"ack {record.frame_id}", flush=True)
        n += 1


if __name__ == "__main__":
    main()
