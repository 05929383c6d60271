"""The fitted model ``get_output()`` returns: FLAML's featurizer + the best estimator + label decoding.

FLAML's own ``AutoML`` object predicts the same way but carries the whole search state; this keeps
only what prediction needs, so the pickled model stays small. It unpickles wherever pipeline_core
and the estimator's library (lightgbm, xgboost, scikit-learn) are installed, as AML's models need
azureml-automl-runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class AutoMLFittedModel:
    """``predict`` / ``predict_proba`` on raw rows (the training data's feature columns)."""

    def __init__(self, task: str, algorithm: str, transformer: Any, estimator: Any, label_transformer: Any,
                 feature_names: list[str]):
        self.task = task
        self.algorithm = algorithm
        self._transformer = transformer
        self._estimator = estimator
        self._label_transformer = label_transformer
        self.feature_names = list(feature_names)

    @property
    def estimator(self) -> Any:
        """The underlying scikit-learn compatible estimator (an LGBMClassifier, a RandomForestRegressor, ...)."""
        return getattr(self._estimator, "estimator", self._estimator)

    @property
    def classes_(self) -> np.ndarray | None:
        if self._label_transformer is not None:
            return np.asarray(self._label_transformer.classes_)
        return getattr(self.estimator, "classes_", None)

    def _features(self, X: Any) -> Any:
        import pandas as pd

        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names if c not in X.columns]
            if missing:
                raise ValueError(f"the rows lack the feature columns {missing} the model was trained on")
            X = X[self.feature_names]
        elif not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[1] != len(self.feature_names):
            X = pd.DataFrame(np.asarray(X), columns=self.feature_names)
        else:
            X = pd.DataFrame(X, columns=self.feature_names)
        return self._transformer.transform(X) if self._transformer is not None else X

    def predict(self, X: Any) -> np.ndarray:
        y = self._estimator.predict(self._features(X))
        y = np.asarray(y)
        if y.ndim > 1:
            y = y.ravel()
        if self._label_transformer is not None:
            return np.asarray(self._label_transformer.inverse_transform(y.astype(int)))
        return y

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.task != "classification":
            raise AttributeError("predict_proba is for classification models")
        return np.asarray(self._estimator.predict_proba(self._features(X)))

    def __repr__(self) -> str:
        return f"AutoMLFittedModel(task={self.task!r}, algorithm={self.algorithm!r}, estimator={self.estimator!r})"
