"""The web run view: HTML pages served by the Functions app itself (``functions/run_view.py``).

Runs, a run's live step graph with logs and outputs, published pipelines and
endpoints with a submit form, and schedules. Everything a page shows comes
from the REST layer (``pipeline_core.rest``) and is rendered here; no
CDN, no build step: the CSS and scripts are files of this package
(``static/``), and the graph is laid out in Python (``layout.py``) so the
notebook widget (``pipeline_core.widgets``) draws the same picture.
"""
