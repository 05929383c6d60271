"""Use cases the SDK, schedules and the REST layer share: publishing, submission, spec checks (no HTTP here)."""
