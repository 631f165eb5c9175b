"""Delivery of spooled frames to the ingest service: gRPC client, backoff, upload loop."""
