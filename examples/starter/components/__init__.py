"""The starter template's components: plain functions the step scripts call."""

from components.preprocess import preprocess
from components.train import train

__all__ = ["preprocess", "train"]
