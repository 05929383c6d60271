"""The ParallelRunStep worker process: imports the entry script, runs ``init()`` once, then serves ``run()``.

Started by ``pipeline_core.parallel.worker`` as ``python _worker.py`` (by
path, so it never imports the SDK: a worker is up in the time Python and the
entry script take to start). It talks to its parent over the socket whose fd
is in ``AMLITE_PRS_FD`` (pickled dicts), leaving stdout and stderr to the
script; they go to the worker's log file.

Messages in: ``{"op": "run", "payload": ..., "rows_path": str|None}`` or
``{"op": "exit"}``. Out: ``{"ok": True}`` after init, ``{"loaded": items}``
before each ``run()`` of a tabular mini-batch (a file mini-batch's size is
known to the parent), then ``{"ok": True, "count", "items"}`` or
``{"ok": False, "error", "traceback", "items"}``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
import types
from multiprocessing.connection import Connection
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str, path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _install_entry_script_module() -> None:
    """``from azureml_user.parallel_run import EntryScript`` and ``pipeline_core.parallel.entry_script`` both work."""
    entry = _load("pipeline_core.parallel.entry_script", os.path.join(HERE, "entry_script.py"))
    package = types.ModuleType("azureml_user")
    package.__path__ = []
    package.parallel_run = entry  # type: ignore[attr-defined]
    sys.modules.setdefault("azureml_user", package)
    sys.modules["azureml_user.parallel_run"] = entry


class MiniBatchContext:
    """AML's second ``run()`` argument: which mini-batch this is, with partition_keys its key values, and
    ``dataset``: the mini-batch's files as a dataset (built on first use: the SDK is imported only then)."""

    def __init__(self, minibatch_index: int, partition_key_value: dict[str, str],
                 files: list[dict[str, str]] | None = None, dataset_type: str = "file",
                 table_format: dict[str, Any] | None = None):
        self.minibatch_index = minibatch_index
        self.partition_key_value = partition_key_value
        self._files = list(files or [])
        self._dataset_type = dataset_type
        self._format = {k: v for k, v in (table_format or {"kind": "delimited"}).items() if k != "include_path"}

    @property
    def dataset(self) -> Any:
        if self._dataset_type == "file":
            from pipeline_core.data.file_dataset import FileDataset

            return FileDataset({"type": "file", "paths": self._files, "partition_format": None})
        from pipeline_core.data.tabular_dataset import TabularDataset

        return TabularDataset({"type": "tabular", "paths": self._files, "format": self._format,
                               "include_path": False, "partition_format": None})

    def __repr__(self) -> str:
        return f"MiniBatchContext(minibatch_index={self.minibatch_index}, partition_key_value={self.partition_key_value})"


def _wants_context(run: Any) -> bool:
    """``run(mini_batch, mini_batch_context)``: AML passes the context when the function takes two arguments."""
    import inspect

    try:
        parameters = list(inspect.signature(run).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in parameters)


def _error(exc: BaseException, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(), **extra}


def _count(result: Any) -> int:
    if result is None or isinstance(result, (str, bytes, dict)):
        raise TypeError(f"run() returned {type(result).__name__}; return a list or a pandas DataFrame with one "
                        "element per successfully processed item")
    return len(result)


def _write_rows(result: Any, path: str) -> None:
    """AML's append_row, appended to the slice's spool: a DataFrame's rows space-separated without header or
    index; other elements by str(), one per line."""
    if hasattr(result, "to_csv") and hasattr(result, "columns"):
        result.to_csv(path, sep=" ", header=False, index=False, mode="a")
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write("".join(f"{element}\n" for element in result))


def _serve(conn: Connection, user: types.ModuleType) -> None:
    readers: types.ModuleType | None = None
    with_context = _wants_context(user.run)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message.get("op") != "run":
            return
        payload = message["payload"]
        items: int | None = None
        try:
            if payload["kind"] == "files":
                mini_batch: Any = list(payload["paths"])
            else:
                readers = readers or _load("amlite_prs_readers", os.path.join(HERE, "..", "data", "readers.py"))
                mini_batch = readers.read_parts(payload["parts"])
            items = len(mini_batch)
            if items == 0:  # a slice that holds no row start (one row longer than the slice): nothing to run
                conn.send({"ok": True, "count": 0, "items": 0})
                continue
            if payload["kind"] != "files":  # the parent knows a file batch's size; a table's it learns here
                conn.send({"loaded": items})
            if with_context:
                context = payload.get("context") or {}
                result = user.run(mini_batch, MiniBatchContext(int(context.get("minibatch_index", -1)),
                                                               dict(context.get("partition_key_value") or {}),
                                                               context.get("files"),
                                                               str(context.get("dataset_type") or "file"),
                                                               context.get("format")))
            else:
                result = user.run(mini_batch)
            count = _count(result)
            if message.get("rows_path"):
                _write_rows(result, message["rows_path"])
            conn.send({"ok": True, "count": count, "items": items})
        except Exception as exc:
            conn.send(_error(exc, items=items))


def main() -> int:
    conn = Connection(int(os.environ["AMLITE_PRS_FD"]))
    setup = conn.recv()
    _install_entry_script_module()
    script = os.path.join(setup["src"], setup["script"])
    sys.argv = [setup["script"], *setup["argv"]]
    for folder in {os.path.dirname(script), setup["src"]}:
        sys.path.insert(0, folder)
    try:
        user = _load(os.path.splitext(os.path.basename(script))[0], script)
        if callable(getattr(user, "init", None)):
            user.init()
        if not callable(getattr(user, "run", None)):
            raise AttributeError(f"entry script {setup['script']!r} has no run(mini_batch) function")
    except BaseException as exc:  # SystemExit from argparse included: init failed, say why
        conn.send(_error(exc))
        return 1
    conn.send({"ok": True, "pid": os.getpid()})
    try:
        _serve(conn, user)
    finally:
        shutdown = getattr(user, "shutdown", None)
        if callable(shutdown):
            shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
