"""Multi-object tracking of the perception candidates in the world frame (``tracker``)."""

from agent.tracking.tracker import TrackerSettings, TrackOutput, WorldTracker

__all__ = ["TrackOutput", "TrackerSettings", "WorldTracker"]
