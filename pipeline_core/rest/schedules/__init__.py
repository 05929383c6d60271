"""The REST resource: schedules."""
