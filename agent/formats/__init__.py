"""Readers and writers for LiDAR data: KITTI, PCD, PLY, the Longtail dataset layout and frame codec."""
