"""Readers and writers for LiDAR data: KITTI, PCD, PLY, the Longtail dataset layout and frame codec.

Modules (each raises ``agent.errors.FormatError`` naming the file or stream and the problem):

* ``pointfile``      ``read_point_file``: the one entry for any point file, format from the file
* ``intensity``      the stated rule that brings every file's intensity into [0, 1]
* ``kitti_bin``      KITTI velodyne ``.bin`` points; ``validate_points`` for any (N, 4) cloud
* ``kitti_calib``    KITTI ``calib`` files (P0..P3, R0_rect, Tr_velo_to_cam) and transforms
* ``kitti_label``    KITTI ``label_2`` files and KITTI <-> Longtail box and class conversion
* ``nuscenes``       nuScenes boxes (LIDAR_TOP axis swap) and LIDAR_TOP ``.pcd.bin`` sweeps
* ``openlabel``      ASAM OpenLABEL JSON <-> Longtail frame labels
* ``pcd``            PCL ``.pcd`` (ascii, binary, binary_compressed) reader and writer
* ``ply``            ``.ply`` (ascii, binary little/big endian) reader and writer
* ``las``            ASPRS LAS/LAZ points through ``laspy``
* ``codec``          the transport frame codec (zstd; lossless or quantized)
* ``semantic_kitti`` SemanticKITTI ``.label`` per-point class and instance ids
* ``dataset``        the on-disk dataset layout (velodyne/, labels/, point_labels/, meta.json)
* ``atomic``         crash-safe file writes

Points everywhere are float32 (N, 4): x forward, y left, z up in metres, intensity in [0, 1].
"""
