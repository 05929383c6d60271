"""AML v1's ``azureml.train``: AutoML (``train.automl``) and HyperDrive (``train.hyperdrive``).

Both are pure here: configuration objects with AML's names and checks, and functions that train,
sample or decide from plain data. The step kinds (AutoMLStep, HyperDriveStep) run them.
"""
