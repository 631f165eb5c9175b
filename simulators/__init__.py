"""Simulators: the LiDAR scene simulator (public API below), its live stream for the vehicle
daemon (``simulators.stream.make_source``, plugged in as ``source.factory``) and the fleet
simulator (``simulators.fleet``: vehicle processes uploading prepared frames to an ingest server
with the agent's own ``IngestClient``).

* ``simulators.scenario``: ``load_scenario(path)``, ``builtin_scenario(name)`` (urban,
  urban_rare, rare_heavy, rain, fog) and the ``Scenario`` settings.
* ``simulators.drive``: ``simulate_drive(scenario, frames, seed)`` yields ``(points, labels)``
  per frame; ``write_drive(scenario, frames, seed, out_dir)`` stores a drive as a dataset;
  ``DriveSimulator`` steps a drive; its ``point_labels()`` gives the class and instance (track)
  id of every point of the last frame, which ``write_drive`` stores as ``point_labels/*.label``.
* ``longtail sim drive|render``: the command line (``simulators.cli``).

Inside: ``sensors`` (beam tables), ``meshes`` and ``shapes`` (object meshes), ``world`` (the
static street), ``traffic`` (road users and rare events), ``raycast`` (Open3D adapter),
``lidar`` and ``kernels`` (the return model), ``render`` (top views), ``errors``.
"""
