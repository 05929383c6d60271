"""The Functions app: one DFApp, the blueprints in functions/ registered on it.

Azure (and `func start`) index this module; so does `amlite dev`, which runs the
same registered functions without Core Tools.
"""

import azure.durable_functions as df
import azure.functions as func

from functions import (
    child_runs,
    history_timestamps,
    http_api,
    orchestration,
    parallel,
    poll,
    run_view,
    schedules,
    sweeper,
)

history_timestamps.install()  # replays parse their history's timestamps at C speed (functions/history_timestamps.py)

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(orchestration.bp)
app.register_functions(parallel.bp)
app.register_functions(poll.bp)
app.register_functions(child_runs.bp)
app.register_functions(http_api.bp)
app.register_functions(schedules.bp)
app.register_functions(run_view.bp)
app.register_functions(sweeper.bp)
