"""ParallelRunStep execution: partitioning, worker processes, the slice activities and a local driver.

Layout: ``config`` (AML's value rules), ``partition`` (inputs -> mini-batches),
``plan`` (the batch list in Blob storage), ``fanout`` (pure: mini-batches ->
slices -> chunks -> lanes, the orchestrators' state), ``summary`` (pure limit
arithmetic), ``worker``/``_worker`` (long-lived processes running the entry
script), ``slices`` (one slice on one worker: prefetch, tries, flushes),
``fetch`` (inputs to this host), ``batches`` (the ``minibatches`` ledger),
``outputs`` (append_row blocks, ``output_dir`` uploads), ``report`` (log lines
and progress), ``activities`` (what an orchestrator calls) and ``local`` (a
thread-pool driver over those activities). The user-facing description is
``docs/parallel_run.md``.
"""
