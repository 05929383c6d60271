"""Runs over REST: submit (a published pipeline, an endpoint, an unpublished spec), read, steps, logs, cancel,
list, and AML v1's aliases of these."""
