"""The REST resource: views."""
