"""Model updates on the vehicle: poll the assignment, download with resume, verify the signed
package before unpacking, install it beside the previous one, swap models between two frames,
and report the running model's health.

::

    worker   the loop on the ``updates`` thread: report health, poll, download, install, swap
    client   the gRPC client of ``longtail.v1.ModelUpdates`` (resumable download into a part file)
    verify   digest + Ed25519 signature check, then safe unpack (the one place to swap to
             ``core.formats.model_archive``)
    install  the model store: packages, the ``current`` pointer, the previous package, pruning
    swap     build the new analyzer off the frame path, swap it in by reference between frames
    health   per-version frame, trigger, error, latency and score windows for the reports
"""
