"""AML v1 ``azureml.data.dataset_type_definitions`` names that dataset factories accept."""

from __future__ import annotations

from enum import IntEnum


class PromoteHeadersBehavior(IntEnum):
    """How delimited files carry headers; every value but NO_HEADERS reads each file's first line as its header."""

    NO_HEADERS = 0
    ONLY_FIRST_FILE_HAS_HEADERS = 1
    COMBINE_ALL_FILES_HEADERS = 2
    ALL_FILES_HAVE_SAME_HEADERS = 3
