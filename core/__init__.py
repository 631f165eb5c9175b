"""What the vehicle and the cloud both use (DESIGN.md, "shared core").

| module | what it holds |
| --- | --- |
| ``core.errors`` | the exception tree of the shared core |
| ``core.classes`` | the object taxonomy (known, rare, vulnerable road users) |
| ``core.geometry`` | box conventions, corners, rotated BEV / 3D IoU, points in boxes |
| ``core.formats`` | point-cloud readers, label converters, the dataset layout, the frame codec and id |
| ``core.config`` | the one TOML + ``LONGTAIL_*`` environment config loader |
| ``core.expr`` | the safe expression language of trigger and routing rules |

It imports nothing from ``agent``, ``backend`` or ``simulators`` and nothing the vehicle install
lacks (no torch, web framework, SQL or Open3D).
"""
