"""The durable local queue of selected frames, and the hand-off that feeds it."""
