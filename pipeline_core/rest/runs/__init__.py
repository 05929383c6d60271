"""The REST resource: runs."""
