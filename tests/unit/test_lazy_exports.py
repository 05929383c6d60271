"""Top-level names load on first use: a step's ``Run`` import stays cheap, every AML name still resolves."""

from __future__ import annotations

import subprocess
import sys

import pipeline_core
import pipeline_core.core


def test_a_steps_run_import_loads_neither_the_builder_nor_the_storage_sdks() -> None:
    probe = ("import sys; from pipeline_core.core import Run; "
             "print(sorted(m for m in ('azure.storage.blob', 'azure.data.tables', 'pipeline_core.pipeline.core', "
             "'pipeline_core.data') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_every_exported_name_resolves() -> None:
    for module in (pipeline_core, pipeline_core.core):
        for name in module.__all__:
            assert getattr(module, name) is not None, f"{module.__name__}.{name}"
        assert set(module.__all__) <= set(dir(module))
    assert pipeline_core.RunDetails.__name__ == "RunDetails"  # the notebook tool, outside __all__
    assert pipeline_core.__version__ == pipeline_core.core.VERSION


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    try:
        pipeline_core.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("pipeline_core.NoSuchThing resolved")
