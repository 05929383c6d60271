"""HyperDrive as pure functions: AML's parameter expressions, sampling, early termination rules, ranking."""

from __future__ import annotations

import math

import pytest

from pipeline_core.core import ScriptRunConfig
from pipeline_core.train.hyperdrive import (
    BanditPolicy,
    BayesianParameterSampling,
    GridParameterSampling,
    HyperDriveConfig,
    HyperDriveConfigException,
    HyperDriveRun,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    PrimaryMetricGoal,
    RandomParameterSampling,
    TrialRecord,
    TruncationSelectionPolicy,
    choice,
    decide,
    lognormal,
    loguniform,
    metrics_document,
    next_parameter_sets,
    normal,
    qloguniform,
    quniform,
    randint,
    trial_arguments,
    trials_to_terminate,
    uniform,
)

MAX, MIN = PrimaryMetricGoal.MAXIMIZE, PrimaryMetricGoal.MINIMIZE


def _script() -> ScriptRunConfig:
    return ScriptRunConfig(source_directory=".", script="train.py")


# --- parameter expressions and sampling ---------------------------------------------------------------

def test_random_sampling_follows_aml_distributions() -> None:
    space = {"--lr": loguniform(-6, -1), "--q": qloguniform(0, 4, 5), "--n": randint(3), "--b": quniform(0, 10, 2.5),
             "--w": lognormal(0, 0.5), "--m": normal(10, 1), "--opt": choice(["adam", "sgd"])}
    drawn = next_parameter_sets(RandomParameterSampling(space), 200)
    assert all(math.exp(-6) <= p["--lr"] <= math.exp(-1) for p in drawn)  # bounds are in log space
    assert max(p["--lr"] for p in drawn) > 0.1  # e^-1 = 0.37: a linear reading of (-6, -1) would give negatives
    assert {p["--n"] for p in drawn} == {0, 1, 2}
    assert all(p["--b"] % 2.5 == 0 and p["--q"] % 5 == 0 for p in drawn)
    assert all(p["--w"] > 0 for p in drawn)
    assert {p["--opt"] for p in drawn} == {"adam", "sgd"}


def test_choice_takes_varargs_a_list_or_a_range() -> None:
    assert choice(1, 2, 3).args == choice([1, 2, 3]).args == choice(range(1, 4)).args == (1, 2, 3)
    with pytest.raises(ValueError, match="min_value"):
        uniform(1, 1)
    with pytest.raises(ValueError, match="upper"):
        randint(0)


def test_random_sampling_is_deterministic_and_continues_where_it_stopped() -> None:
    sampling = RandomParameterSampling({"x": uniform(0, 1), "k": choice(1, 2, 3)}, properties={"rndseed": 7})
    five = next_parameter_sets(sampling, 5)
    assert next_parameter_sets(sampling, 5) == five
    assert next_parameter_sets(sampling, 2, issued=five[:3]) == five[3:]  # redelivery draws the same trials
    assert next_parameter_sets(sampling, 5, seed=8) != five


def test_grid_sampling_enumerates_every_combination_once() -> None:
    sampling = GridParameterSampling({"a": choice(1, 2), "b": choice("x", "y", "z")})
    everything = next_parameter_sets(sampling, 100)
    assert len(everything) == 6 and len({(p["a"], p["b"]) for p in everything}) == 6
    assert next_parameter_sets(sampling, 4, issued=everything[:4]) == everything[4:]
    with pytest.raises(HyperDriveConfigException, match="GridParameterSampling supports only choice"):
        GridParameterSampling({"a": uniform(0, 1)})
    assert HyperDriveConfig(run_config=_script(), hyperparameter_sampling=sampling, primary_metric_name="acc",
                            primary_metric_goal=MAX).max_total_runs == 6


def _bowl(p: dict) -> float:
    return (p["x"] - 0.3) ** 2 + (p["y"] + 0.2) ** 2


def _search(sampling: object, trials: int, seed: int) -> float:
    issued: list[dict] = []
    completed: list[tuple[dict, float]] = []
    for _ in range(trials):
        (params,) = next_parameter_sets(sampling, 1, issued=issued, completed=completed, goal=MIN, seed=seed)
        issued.append(params)
        completed.append((params, _bowl(params)))
    return min(v for _, v in completed)


def test_bayesian_search_beats_random_search_on_a_simple_function() -> None:
    space = {"x": uniform(-2, 2), "y": uniform(-2, 2)}
    bayesian = [_search(BayesianParameterSampling(space), 30, seed) for seed in range(3)]
    random = [_search(RandomParameterSampling(space), 30, seed) for seed in range(3)]
    assert sum(bayesian) < sum(random), (bayesian, random)
    assert max(bayesian) < 0.05


def test_bayesian_sampling_keeps_aml_limits() -> None:
    with pytest.raises(HyperDriveConfigException, match="choice, quniform, uniform"):
        BayesianParameterSampling({"x": normal(0, 1)})
    with pytest.raises(HyperDriveConfigException, match="Bayesian sampling does not support early termination"):
        HyperDriveConfig(run_config=_script(), hyperparameter_sampling=BayesianParameterSampling({"x": uniform(0, 1)}),
                         primary_metric_name="acc", primary_metric_goal=MAX, max_total_runs=20,
                         policy=BanditPolicy(slack_factor=0.1))
    drawn = next_parameter_sets(BayesianParameterSampling({"b": quniform(0, 10, 2), "c": choice("a", "b")}), 4)
    assert all(p["b"] % 2 == 0 and p["c"] in ("a", "b") for p in drawn)


# --- early termination (AML's documented examples) ----------------------------------------------------

def test_bandit_slack_factor_example_from_aml_docs() -> None:
    """Best 0.8 at the interval, slack_factor 0.2: runs below 0.8 / 1.2 = 0.667 are cancelled."""
    policy = BanditPolicy(slack_factor=0.2, evaluation_interval=1)
    series = {"best": [0.8], "poor": [0.65], "close": [0.7]}
    stopped = trials_to_terminate(policy, MAX, series, running={"poor", "close"})
    assert [t.run_id for t in stopped] == ["poor"]
    assert "0.666667" in stopped[0].reason


def test_bandit_slack_amount_example_and_minimize() -> None:
    """slack_amount 0.2 with best 0.8: below 0.6 is cancelled. Minimising flips the side."""
    series = {"best": [0.8], "a": [0.65], "b": [0.55]}
    assert [t.run_id for t in trials_to_terminate(BanditPolicy(slack_amount=0.2), MAX, series, {"a", "b"})] == ["b"]
    losses = {"best": [1.0], "a": [1.15], "b": [1.3]}
    assert [t.run_id for t in trials_to_terminate(BanditPolicy(slack_factor=0.2), MIN, losses, {"a", "b"})] == ["b"]


def test_policies_look_only_at_evaluation_points() -> None:
    """evaluation_interval=2, delay_evaluation=4: the first look is at interval 4, then 6, 8, ..."""
    policy = BanditPolicy(slack_factor=0.1, evaluation_interval=2, delay_evaluation=4)
    best = [0.9] * 6
    for n, looked in ((1, False), (2, False), (3, False), (4, True), (5, False), (6, True)):
        stopped = trials_to_terminate(policy, MAX, {"best": best, "poor": [0.1] * n}, {"poor"})
        assert bool(stopped) is looked, n


def test_bandit_compares_with_runs_that_reached_the_same_interval() -> None:
    """A finished run's later, better values do not count against a run at an earlier interval."""
    series = {"done": [0.5, 0.9, 0.95], "slow": [0.48]}
    assert trials_to_terminate(BanditPolicy(slack_factor=0.1), MAX, series, {"slow"}) == []


def test_median_stopping_stops_runs_worse_than_the_median_of_running_averages() -> None:
    series = {"a": [0.5, 0.7], "b": [0.6, 0.8], "c": [0.1, 0.2], "d": [0.7, 0.9]}
    # running averages at interval 2: 0.6, 0.7, 0.15, 0.8 -> median 0.65; c's best (0.2) is below
    stopped = trials_to_terminate(MedianStoppingPolicy(), MAX, series, {"a", "b", "c", "d"})
    assert [t.run_id for t in stopped] == ["c"]


def test_truncation_selection_cancels_the_lowest_percentage() -> None:
    """truncation_percentage=20 over 5 runs at interval 5: the lowest run is cancelled."""
    policy = TruncationSelectionPolicy(truncation_percentage=20, evaluation_interval=1, delay_evaluation=5)
    series = {f"r{i}": [0.5] * 4 + [v] for i, v in enumerate([0.9, 0.3, 0.7, 0.6, 0.8])}
    assert [t.run_id for t in trials_to_terminate(policy, MAX, series, set(series))] == ["r1"]
    assert trials_to_terminate(policy, MAX, {k: v[:4] for k, v in series.items()}, set(series)) == []  # delayed
    finished_low = dict(series, r5=[0.1] * 5)  # a finished run is the lowest: with it excluded, r1 is cut again
    excluding = TruncationSelectionPolicy(20, delay_evaluation=5, exclude_finished_jobs=True)
    assert [t.run_id for t in trials_to_terminate(excluding, MAX, finished_low, set(series))] == ["r1"]
    assert trials_to_terminate(policy, MAX, finished_low, set(series)) == []  # r5 takes the one cut slot


def test_no_termination_policy_never_stops() -> None:
    assert trials_to_terminate(NoTerminationPolicy(), MAX, {"a": [0.0], "b": [1.0]}, {"a"}) == []


def test_policy_arguments_are_checked() -> None:
    with pytest.raises(HyperDriveConfigException, match="exactly one of slack_factor or slack_amount"):
        BanditPolicy(slack_factor=0.1, slack_amount=0.1)
    with pytest.raises(HyperDriveConfigException, match="evaluation_interval"):
        MedianStoppingPolicy(evaluation_interval=0)
    with pytest.raises(HyperDriveConfigException, match="truncation_percentage"):
        TruncationSelectionPolicy(truncation_percentage=100)


# --- config, arguments, ranking -----------------------------------------------------------------------

def test_config_checks_aml_limits() -> None:
    sampling = RandomParameterSampling({"--rate": choice(0.05, 0.1)})
    with pytest.raises(HyperDriveConfigException, match="max_total_runs must be an integer from 1 to 1000"):
        HyperDriveConfig(run_config=_script(), hyperparameter_sampling=sampling, primary_metric_name="acc",
                         primary_metric_goal=MAX)
    with pytest.raises(HyperDriveConfigException, match="primary_metric_goal"):
        HyperDriveConfig(run_config=_script(), hyperparameter_sampling=sampling, primary_metric_name="acc",
                         primary_metric_goal="up", max_total_runs=2)
    with pytest.raises(HyperDriveConfigException, match="run_config"):
        HyperDriveConfig(hyperparameter_sampling=sampling, primary_metric_name="acc", primary_metric_goal=MAX,
                         max_total_runs=2)
    config = HyperDriveConfig(run_config=_script(), hyperparameter_sampling=sampling, primary_metric_name="acc",
                              primary_metric_goal="maximize", max_total_runs=4, max_concurrent_runs=8)
    assert config.primary_metric_goal is MAX and config.concurrency == 4
    assert config.to_aml()["generator_config"]["parameter_space"] == {"--rate": ["choice", [[0.05, 0.1]]]}


def test_sampled_values_reach_the_script_as_flag_value_pairs() -> None:
    args = trial_arguments(["--data", "x", "--rate", "1.0"], {"--rate": 0.1, "batch": 32})
    assert args == ["--data", "x", "--rate", "1.0", "--rate", "0.1", "--batch", "32"]


def test_best_run_by_primary_metric() -> None:
    children = [TrialRecord("r0", {"--rate": 0.05}, "Completed", {"acc": [0.5, 0.7]}),
                TrialRecord("r1", {"--rate": 0.1}, "Canceled", {"acc": [0.95]}),
                TrialRecord("r2", {"--rate": 0.5}, "Failed", {"acc": [0.99]}),
                TrialRecord("r3", {"--rate": 0.9}, "Completed", {})]
    run = HyperDriveRun(None, "hd", primary_metric_name="acc", primary_metric_goal=MAX, children=children)
    best = run.get_best_run_by_primary_metric()
    assert best is not None and best.run_id == "r2"
    best = run.get_best_run_by_primary_metric(include_failed=False, include_canceled=False)
    assert best is not None and best.run_id == "r0"
    rows = run.get_children_sorted_by_primary_metric()
    assert [r["run_id"] for r in rows] == ["r2", "r1", "r0", "r3"] and rows[2]["best_primary_metric"] == 0.7
    assert [r["run_id"] for r in run.get_children_sorted_by_primary_metric(top=1, discard_no_metric=True)] == ["r2"]
    low = HyperDriveRun(None, "hd", primary_metric_name="acc", primary_metric_goal=MIN, children=children)
    assert low.get_best_run_by_primary_metric().run_id == "r0"  # type: ignore[union-attr]


def test_a_search_driven_by_decide_stops_poor_trials_early_and_respects_its_limits() -> None:
    """A simulated HyperDriveStep: each trial logs 5 values approaching 1 - |rate - 0.1|."""
    config = HyperDriveConfig(run_config=_script(), primary_metric_name="acc", primary_metric_goal=MAX,
                              hyperparameter_sampling=RandomParameterSampling({"--rate": choice(0.1, 0.5, 0.9, 0.12)}),
                              policy=BanditPolicy(slack_factor=0.1, evaluation_interval=1, delay_evaluation=2),
                              max_total_runs=8, max_concurrent_runs=3)
    trials: dict[str, TrialRecord] = {}
    for _ in range(100):
        decision = decide(config, list(trials.values()))
        if decision.finished:
            break
        for stop in decision.cancel:
            trials[stop.run_id] = TrialRecord(stop.run_id, trials[stop.run_id].parameters, "Canceled",
                                              trials[stop.run_id].metrics)
        for params in decision.start:
            run_id = f"hd_{len(trials)}"
            trials[run_id] = TrialRecord(run_id, params, "Running", {"acc": []})
        active = [t for t in trials.values() if t.status == "Running"]
        assert len(active) <= 3
        for t in active:  # every running trial logs one more value; after 5 it completes
            quality = 1 - abs(t.parameters["--rate"] - 0.1)
            values = [*t.metrics["acc"], quality * (len(t.metrics["acc"]) + 1) / 5]
            trials[t.run_id] = TrialRecord(t.run_id, t.parameters, "Completed" if len(values) == 5 else "Running",
                                           {"acc": values})
    assert decision.finished and decision.reason == "max_total_runs reached" and len(trials) == 8
    canceled = [t for t in trials.values() if t.status == "Canceled"]
    assert canceled and all(len(t.metrics["acc"]) < 5 and t.parameters["--rate"] >= 0.5 for t in canceled)
    run = HyperDriveRun(None, "hd", config, children=trials.values())
    closest = min((t.parameters["--rate"] for t in trials.values()), key=lambda rate: abs(rate - 0.1))
    assert run.get_best_run_by_primary_metric().parameters["--rate"] == closest  # type: ignore[union-attr]
    assert metrics_document(list(trials.values()))["hd_0"]["acc"] == trials["hd_0"].metrics["acc"]
