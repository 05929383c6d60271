"""Datastores and the run store against Azurite."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

from pipeline_core import Datastore, Workspace
from pipeline_core.errors import ConcurrencyError, NotFoundError
from pipeline_core.storage.run_store import (
    InvalidTransition,
    RunStore,
    index_key,
    newest_index_entries,
    step_key,
)

pytestmark = pytest.mark.integration


def test_datastore_round_trip(workspace: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "up"
    (source / "nested").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "nested" / "b.bin").write_bytes(bytes(range(256)))
    prefix = f"roundtrip/{uuid.uuid4().hex}"
    store = workspace.get_default_datastore()
    assert store.name == "workspaceblobstore"
    ref = store.upload(str(source), target_path=prefix, show_progress=False)
    assert ref.path_on_datastore == prefix
    count = store.download(str(tmp_path / "down"), prefix=prefix, show_progress=False)
    assert count == 2
    assert (tmp_path / "down" / prefix / "a.txt").read_text() == "alpha"
    assert (tmp_path / "down" / prefix / "nested" / "b.bin").read_bytes() == bytes(range(256))


def test_register_and_get_blob_container(workspace: Workspace) -> None:
    name = f"ds_{uuid.uuid4().hex[:8]}"
    container = f"c-{uuid.uuid4().hex[:10]}"
    Datastore.register_azure_blob_container(workspace, name, container, create_if_not_exists=True)
    found = Datastore.get(workspace, name)
    assert found.container_name == container
    assert name in workspace.datastores
    with pytest.raises(NotFoundError, match="register it with Datastore.register_azure_blob_container"):
        Datastore.get(workspace, "nope_" + name)
    with pytest.raises(Exception, match="overwrite=True"):
        Datastore.register_azure_blob_container(workspace, name, container + "x", create_if_not_exists=True)


def test_run_store_transitions_are_guarded(workspace: Workspace) -> None:
    store = RunStore(workspace.account)
    run_id = str(uuid.uuid4())
    store.create_run(run_id, "store-test", {"graph_id": "g", "parameters": {"a": 1}}, [("s1", {}), ("s2", {})])
    state = store.get_state(run_id)
    assert state.run["status"] == "NotStarted" and list(state.steps) == ["s1", "s2"]
    assert state.run["parameters"] == {"a": 1}

    row = store.get_step(run_id, "s1")
    store.update(run_id, step_key("s1"), {"note": "first"}, etag=row["etag"])
    with pytest.raises(ConcurrencyError):  # the ETag we read is stale now
        store.update(run_id, step_key("s1"), {"note": "second"}, etag=row["etag"])

    store.transition(run_id, step_key("s1"), "Running")
    store.transition(run_id, step_key("s1"), "Finished")
    with pytest.raises(InvalidTransition):  # terminal rows never move again
        store.transition(run_id, step_key("s1"), "Failed")


def test_a_narrow_state_read_holds_only_the_named_steps(workspace: Workspace) -> None:
    """A step reads its own row and its producers', in order, however wide the run; a long list still works."""
    store = RunStore(workspace.account)
    run_id = str(uuid.uuid4())
    names = [f"s{i}" for i in range(30)]
    store.create_run(run_id, "store-test", {"graph_id": "g"}, [(n, {}) for n in names])
    narrow = store.get_state(run_id, steps=["s7", "s2", "missing"])
    assert narrow.run["status"] == "NotStarted"
    assert list(narrow.steps) == ["s2", "s7"]  # the run's order, not the caller's; an unknown name is absent
    wide = store.get_state(run_id, steps=names[:20])  # more names than one filter may hold
    assert list(wide.steps) == names[:20]
    assert list(store.get_state(run_id).steps) == names


def test_concurrent_transitions_let_exactly_one_win(workspace: Workspace) -> None:
    store = RunStore(workspace.account)
    run_id = str(uuid.uuid4())
    store.create_run(run_id, "store-test", {"graph_id": "g"}, [("s", {})])
    store.transition(run_id, step_key("s"), "Running")
    outcomes: list[str] = []

    def finish(status: str) -> None:
        try:
            store.transition(run_id, step_key("s"), status, {"by": status})
            outcomes.append(status)
        except InvalidTransition:
            outcomes.append("refused")

    threads = [threading.Thread(target=finish, args=(s,)) for s in ("Finished", "Failed", "Canceled", "Finished")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [o for o in outcomes if o != "refused"]
    final = store.get_step(run_id, "s")
    assert final["status"] in ("Finished", "Failed", "Canceled")
    assert final["by"] == final["status"]
    # A second identical "Finished" may be a no-op success, but two different terminal states never both win.
    assert len(set(winners)) == 1, outcomes


def _runs_in_a_new_experiment(store: RunStore, count: int) -> tuple[str, list[str]]:
    """An experiment with ``count`` runs created one after another (oldest first)."""
    experiment = f"list-{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for run_id in ids:
        store.create_run(run_id, experiment, {"graph_id": "g"}, [])
    return experiment, ids


def test_experiment_listing_is_newest_first(workspace: Workspace) -> None:
    store = RunStore(workspace.account)
    experiment, ids = _runs_in_a_new_experiment(store, 3)
    listed = [r["PartitionKey"] for r in store.list_runs(experiment)]
    assert listed == list(reversed(ids))


def test_a_listing_across_experiments_finds_the_newest_entries_whatever_their_age(workspace: Workspace) -> None:
    """Old runs are found when there are too few recent ones, and recent ones win over old ones."""
    index = workspace.account.table(f"index{uuid.uuid4().hex[:12]}")
    now = 1_900_000_000_000  # ms
    hour, day = 3_600_000, 86_400_000
    ages = {"a": 5 * 60_000, "b": 3 * hour, "c": 2 * day, "d": 40 * day, "e": 400 * day, "f": 30 * 60_000}
    for number, (name, age) in enumerate(sorted(ages.items())):
        index.create_entity({"PartitionKey": f"exp{number % 3}", "RowKey": index_key(now - age, name), "run_id": name})
    newest = [e["run_id"] for e in newest_index_entries(index, 2, now_ms=now)]
    assert newest == ["a", "f"]  # both within the last hour: found without going further back
    assert [e["run_id"] for e in newest_index_entries(index, 4, now_ms=now)] == ["a", "f", "b", "c"]
    assert [e["run_id"] for e in newest_index_entries(index, 10, now_ms=now)] == ["a", "f", "b", "c", "d", "e"]


def test_a_listed_run_whose_row_is_gone_is_left_out_and_the_rest_keep_their_order(workspace: Workspace) -> None:
    store = RunStore(workspace.account)
    experiment, ids = _runs_in_a_new_experiment(store, 12)
    store.runs.delete_entity(ids[5], "run")  # deleted after its index entry was written
    listed = [r["PartitionKey"] for r in store.list_runs(experiment, top=10)]
    assert listed == [i for i in list(reversed(ids))[:10] if i != ids[5]]  # the newest ten entries, less the gone one


def test_a_child_runs_metrics_read_holds_that_child_alone(workspace: Workspace) -> None:
    """Iterating a search's children reads each child's own metric rows, not every child's for each one."""
    from pipeline_core.backend.local import StoreRunSource
    from pipeline_core.engine.services import services_for
    from pipeline_core.storage.metric_store import MetricStore

    run_id = str(uuid.uuid4())
    metrics = MetricStore(workspace.account)
    for name in ("search", "search_0", "search_1", "search_10"):
        metrics.add(run_id, name, [{"name": "AUC_weighted", "kind": "scalar", "value": len(name), "seq": "1"}])
    metrics.add(run_id, "", [{"name": "best", "kind": "scalar", "value": 1.0, "seq": "1"}])
    source = StoreRunSource(services_for(workspace.storage), run_id)
    assert source.get_metrics("search_1") == {"search_1": {"AUC_weighted": 8}}
    assert source.get_metrics("search") == {"search": {"AUC_weighted": 6}}  # not its children's rows
    assert source.get_metrics("") == {"": {"best": 1.0}}
    assert source.get_metrics("nothing") == {}
    assert set(source.get_metrics()) == {"", "search", "search_0", "search_1", "search_10"}
