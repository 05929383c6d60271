"""AML's AutoML metrics, computed from a fitted model's predictions on validation data.

The formulas follow AML's metric documentation: weighted/macro/micro averages as scikit-learn
defines them; ``norm_macro_recall`` = (macro recall - 1/classes) / (1 - 1/classes), clipped at 0;
the ``normalized_*`` errors divide by the label range (y_max - y_min) of the training data.
A metric that cannot be computed on a fold (an AUC with one class present) is NaN, as AML reports.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import spearmanr
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize


def classification_metrics(y_true: Any, y_pred: Any, proba: np.ndarray | None,
                           labels: Sequence[Any]) -> dict[str, float]:
    """Every classification metric AML reports, for one set of predictions."""
    labels = list(labels)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined precision/recall for an absent class is 0, as in AML
        out["accuracy"] = float(skm.accuracy_score(y_true, y_pred))
        out["balanced_accuracy"] = float(skm.balanced_accuracy_score(y_true, y_pred))
        out["matthews_correlation"] = float(skm.matthews_corrcoef(y_true, y_pred))
        for avg in ("weighted", "macro"):
            out[f"precision_score_{avg}"] = float(skm.precision_score(y_true, y_pred, labels=labels, average=avg,
                                                                      zero_division=0))
            out[f"recall_score_{avg}"] = float(skm.recall_score(y_true, y_pred, labels=labels, average=avg,
                                                                zero_division=0))
            out[f"f1_score_{avg}"] = float(skm.f1_score(y_true, y_pred, labels=labels, average=avg, zero_division=0))
        chance = 1 / len(labels) if labels else 0.0
        macro_recall = out["recall_score_macro"]
        out["norm_macro_recall"] = max(0.0, (macro_recall - chance) / (1 - chance)) if chance < 1 else 0.0
        out.update(_probability_metrics(y_true, proba, labels))
    return out


def _probability_metrics(y_true: np.ndarray, proba: np.ndarray | None, labels: list[Any]) -> dict[str, float]:
    names = ("AUC_weighted", "AUC_macro", "AUC_micro", "average_precision_score_weighted",
             "average_precision_score_macro", "log_loss")
    if proba is None or len(labels) < 2:
        return dict.fromkeys(names, math.nan)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    onehot = label_binarize(y_true, classes=labels)
    if onehot.shape[1] == 1:  # binary: label_binarize gives the positive column only
        onehot = np.column_stack([1 - onehot[:, 0], onehot[:, 0]])
    out = {}
    for avg in ("weighted", "macro", "micro"):
        out[f"AUC_{avg}"] = _or_nan(lambda a=avg: skm.roc_auc_score(onehot, proba, average=a))
    for avg in ("weighted", "macro"):
        out[f"average_precision_score_{avg}"] = _or_nan(
            lambda a=avg: skm.average_precision_score(onehot, proba, average=a))
    out["log_loss"] = _or_nan(lambda: skm.log_loss(y_true, proba, labels=labels))
    return out


def _or_nan(compute: Any) -> float:
    try:
        value = float(compute())
    except ValueError:  # e.g. only one class present in this fold
        return math.nan
    return value


def regression_metrics(y_true: Any, y_pred: Any, y_range: float) -> dict[str, float]:
    """Every regression metric AML reports; ``y_range`` is the training label range used to normalise."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    rmse = float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
    mae = float(skm.mean_absolute_error(y_true, y_pred))
    medae = float(skm.median_absolute_error(y_true, y_pred))
    scale = y_range if y_range > 0 else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant prediction has no rank correlation: NaN
        rho = spearmanr(y_true, y_pred).statistic
    return {"r2_score": float(skm.r2_score(y_true, y_pred)),
            "explained_variance": float(skm.explained_variance_score(y_true, y_pred)),
            "spearman_correlation": float(rho) if rho is not None else math.nan,
            "root_mean_squared_error": rmse, "normalized_root_mean_squared_error": rmse / scale,
            "mean_absolute_error": mae, "normalized_mean_absolute_error": mae / scale,
            "median_absolute_error": medae, "normalized_median_absolute_error": medae / scale}
