"""The REST resource: pipelines."""
