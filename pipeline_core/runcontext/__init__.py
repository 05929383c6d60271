"""The run context: how a running step reaches its own run (metrics, tags, files, models) without secrets.

``server`` runs in the process that runs steps (host side); ``client`` is what a
step's ``Run.get_context()`` and ``Model`` use (step side); ``records`` is what
both end up calling on the workspace's storage. Nothing is imported here, so a
step importing the client never loads the host side.
"""
