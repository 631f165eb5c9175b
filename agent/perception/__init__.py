"""The perception runtime: pre-processing (numba), the ONNX network and post-processing.

Public entry points: ``agent.perception.package.ModelPackage`` / ``default_package_path`` and
``agent.perception.pipeline.Perception`` / ``Detections``. Nothing is imported or built here so
that importing the package stays free.
"""
