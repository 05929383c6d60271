"""Starting a stored run: the one place that decides which engine carries it out.

Everything that creates a run (``Experiment.submit``, the HTTP submit, a
schedule) calls ``launch_run`` after ``create_run``, so switching engines is a
change here and nowhere else.
"""

from __future__ import annotations

from pipeline_core.engine.services import Services


def launch_run(services: Services, run_id: str) -> None:
    from pipeline_core.engine.local_driver import drive_in_background

    drive_in_background(services, run_id)
