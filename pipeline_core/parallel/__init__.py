"""ParallelRunStep execution: partitioning, worker processes, the batch activities and a local driver.

Layout: ``config`` (AML's value rules), ``partition`` (inputs -> mini-batches),
``plan`` (the batch list in Blob storage), ``worker``/``_worker`` (long-lived
processes running the entry script), ``batches`` (the ``minibatches`` table),
``summary`` (pure limit arithmetic), ``activities`` (what an orchestrator
calls) and ``local`` (a thread-pool driver over those activities).
"""
