"""AML v1 ``azureml.pipeline``."""
