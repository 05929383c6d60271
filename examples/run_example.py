"""`make run`: the starter pipeline end to end on this machine, then where its model landed.

Azurite is reused if it is already running, else started with its data in
`.azurite/` and stopped at the end.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples" / "starter"))
os.environ.setdefault("AMLITE_QUIET", "1")

from rich.console import Console  # noqa: E402

from pipeline_core import Experiment  # noqa: E402
from pipeline_core.cli import _print_summary  # noqa: E402
from pipeline_core.storage.azurite import ensure_azurite  # noqa: E402

console = Console(highlight=False, soft_wrap=True)


def main() -> int:
    azurite = ensure_azurite(location=ROOT / ".azurite")
    os.environ["AMLITE_STORAGE"] = azurite.connection_string
    try:
        console.rule("amlite: starter pipeline (preprocess -> train)")
        driver = runpy.run_path(str(ROOT / "examples" / "starter" / "driver.py"), run_name="__amlite__")
        pipeline, ws = driver["pipeline"], driver["ws"]
        run = Experiment(ws, "starter").submit(pipeline, pipeline_parameters={"alpha": 0.5})
        status = run.wait_for_completion(show_output=True, raise_on_error=False)
        _print_summary(run)
        if status != "Finished":
            console.print(f"[red]run {run.id} ended {status}[/]")
            return 1
        reference = run.find_step_run("train")[0].get_output_data("model")
        folder = Path(reference.download(tempfile.mkdtemp(prefix="starter-model-"), show_progress=False))
        metrics = json.loads((folder / "metrics.json").read_text())
        console.print(f"model: [bold]{reference.datastore_name}/{reference.path_on_datastore}/model.pkl[/]")
        console.print(f"downloaded to {folder} (r2={metrics['r2']:.3f}, rmse={metrics['rmse']:.1f})")
        console.print(f"[green]Finished[/] run {run.id}: `amlite show {run.id}` for steps and reuse decisions")
        return 0
    finally:
        azurite.stop()


if __name__ == "__main__":
    sys.exit(main())
