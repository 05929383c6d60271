"""The REST resource: endpoints."""
