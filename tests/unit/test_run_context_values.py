"""Names a step sends are checked as paths; logged values read back in AML's ``get_metrics`` shapes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from pipeline_core.errors import AmliteError
from pipeline_core.runcontext.names import check_artifact_name, check_model_name, key_part, local_path
from pipeline_core.runcontext.values import (
    IMAGE,
    LIST,
    ROW,
    SCALAR,
    TABLE,
    json_safe,
    merge,
    record_value,
    short,
)


@pytest.mark.parametrize("name", ["../x", "a/../../b", "/etc/passwd", "C:/x", "a\\b", "a//b", "a/./b", "", "x\n",
                                  "a/" + "b" * 1100])
def test_artifact_names_that_leave_their_folder_are_refused(name: str) -> None:
    with pytest.raises(AmliteError, match="refused|invalid"):
        check_artifact_name(name)


def test_artifact_names_inside_their_folder_are_kept(tmp_path: Path) -> None:
    assert check_artifact_name("./outputs/model.pkl") == "outputs/model.pkl"
    assert check_artifact_name("a b/c..d.txt") == "a b/c..d.txt"
    assert local_path(tmp_path, "x/y.txt") == tmp_path / "x" / "y.txt"
    (tmp_path / "link").symlink_to("/")
    with pytest.raises(AmliteError, match="outside"):
        local_path(tmp_path, "link/etc/passwd")


def test_model_names_and_key_parts() -> None:
    assert check_model_name("my-model.v2_x") == "my-model.v2_x"
    for bad in ("", "-x", "has space", "a/b", "x" * 256):
        with pytest.raises(AmliteError, match="model name"):
            check_model_name(bad)
    assert "|" not in key_part("a|b") and "/" not in key_part("a/b#?\\")
    assert key_part("x" * 1000).startswith("~") and len(key_part("x" * 1000)) == 65


def test_get_metrics_shapes_follow_aml() -> None:
    records = [("loss", SCALAR, 0.5), ("loss", SCALAR, 0.4), ("acc", SCALAR, 0.9),
               ("folds", LIST, [1, 2]), ("folds", LIST, [3]),
               ("row1", ROW, {"x": 1, "y": 2}),
               ("curve", ROW, {"x": 1, "y": 2}), ("curve", ROW, {"x": 2, "y": 4}),
               ("tbl", TABLE, {"a": [1, 2]}), ("tbl", TABLE, {"a": [3]}),
               ("img", IMAGE, "aml://artifactId/ExperimentRun/dcid.r_s/images/p.png")]
    assert merge(records) == {"loss": [0.5, 0.4], "acc": 0.9, "folds": [1, 2, 3], "row1": {"x": 1, "y": 2},
                              "curve": {"x": [1, 2], "y": [2, 4]}, "tbl": {"a": [1, 2, 3]},
                              "img": "aml://artifactId/ExperimentRun/dcid.r_s/images/p.png"}
    assert short(merge(records)).startswith("acc=0.9  img=[image]  loss=[2 values, last 0.4]")


def test_values_are_plain_json() -> None:
    class NumpyLike:
        def item(self) -> float:
            return 1.5

    assert record_value(SCALAR, NumpyLike(), "n") == 1.5
    assert record_value(SCALAR, object, "o") == repr(object)  # as AML: an unknown type is logged by repr
    assert record_value(LIST, (1, NumpyLike()), "l") == [1, 1.5]
    with pytest.raises(AmliteError, match="a list"):
        record_value(LIST, "abc", "l")
    assert json_safe({"a": [math.nan, math.inf, -math.inf, 1.0]}) == {"a": ["NaN", "Infinity", "-Infinity", 1.0]}
