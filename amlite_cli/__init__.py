"""``amlite``, the command line: an edge package like ``functions/`` and ``amlite_local``.

It may compose adapters (``amlite dev`` starts Azurite and serves the app with
``amlite_local.host``); ``pipeline_core`` never imports it. The commands are
in ``commands`` (run, validate, runs, show, logs, dev) and ``schedules``.
"""

from amlite_cli.commands import UsageError, build_parser, main

__all__ = ["UsageError", "build_parser", "main"]
