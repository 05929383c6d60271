"""Dataset paths that are http(s) URLs: what is refused before any request is made."""

from __future__ import annotations

import pytest

from pipeline_core.core.dataset import Dataset
from pipeline_core.data.web_files import check_url, file_name
from pipeline_core.errors import AmliteError
from pipeline_core.spec import PipelineSpec
from pipeline_core.validation import data_path_problems


def test_link_local_addresses_are_refused() -> None:
    """The instance metadata / managed identity endpoint must never be fetched on a dataset's behalf."""
    with pytest.raises(AmliteError, match="link-local"):
        check_url("http://169.254.169.254/metadata/identity/oauth2/token")
    with pytest.raises(AmliteError, match="has no host"):
        check_url("http:///x.csv")


def test_url_file_names_are_single_safe_segments() -> None:
    assert file_name("https://host/data/Titanic%20train.csv?sig=1") == "Titanic train.csv"
    assert file_name("https://host/") == "download"
    assert file_name("https://host/a/%2e%2e") == "download"


def test_a_posted_web_path_must_be_a_url() -> None:
    definition = Dataset.File.from_files("https://example.com/a.csv").definition
    definition["paths"][0]["path"] = "file:///etc/passwd"
    spec = PipelineSpec({"steps": [], "data": {"d": {"kind": "dataset", "dataset_type": "file",
                                                     "definition": definition}}})
    assert any("not an http(s) URL" in str(p) for p in data_path_problems(spec))
