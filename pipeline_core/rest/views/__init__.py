"""The run view's JSON over REST: a run as the view shows it, an output's files, a ParallelRunStep's
mini-batches, resubmit. The HTML pages are ``pipeline_core.webview`` (not API routes)."""
