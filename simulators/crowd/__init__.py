"""A simulated annotator crowd that labels, reviews and adjudicates through the HTTP API.

* ``profiles``: each person's skill and speed (:class:`Profile`), ``default_crowd()``.
* ``truth``: ``truth_from_drive(drive_dir)``, the simulator's ground truth by capture time.
* ``labelling``: the pure labelling model (labels a person submits; review decisions through
  the project's matcher).
* ``wire`` / ``client``: the server's label JSON and a thin httpx client of the API.
* ``workers``: one person's loop over the API, in a thread.
* ``run``: ``run_crowd(api, admin_token, truth, profiles, seed=...) -> CrowdRun``, the entry point.
* ``consensus_check``: Dawid-Skene against majority vote on the overlap tasks, scored on truth.
"""

from simulators.crowd.profiles import Profile, default_crowd
from simulators.crowd.run import CrowdRun, PersonRun, run_crowd
from simulators.crowd.truth import FrameTruth, truth_from_drive

__all__ = [
    "CrowdRun",
    "FrameTruth",
    "PersonRun",
    "Profile",
    "default_crowd",
    "run_crowd",
    "truth_from_drive",
]
