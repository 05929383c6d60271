"""amlite on this machine: the in-process engine and the dev host composed for amlite's Functions app.

An edge package, like ``functions/``: it may import ``pipeline_core`` and
``amlite_devhost``; neither imports it. ``pipeline_core`` reaches the local
engine only through the ``amlite.launchers`` entry point
(:class:`~amlite_local.launcher.LocalLauncher`).

- ``engine``: the app's own orchestrator run in process for a local ``Experiment.submit``
  (``function_app.py`` loaded by its file path; the storage account passed in).
- ``launcher``: the ``RunLauncher`` adapter over that engine.
- ``resume``: settling the run rows dead hosts left, after the dev host's resume sweep.
- ``host``: ``DevHost`` with amlite's URL settings, storage clients and run sweep; ``python -m amlite_local``.
"""
