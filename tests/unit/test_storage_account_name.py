"""The account a workspace's storage setting names: what its own datastores report as ``account_name``."""

from __future__ import annotations

import pytest

from pipeline_core.storage.account import account_name_of
from pipeline_core.storage.azurite import AzuritePorts


@pytest.mark.parametrize("storage, expected", [
    ("UseDevelopmentStorage=true", "devstoreaccount1"),
    (AzuritePorts(11001, 11002, 11003).connection_string(), "devstoreaccount1"),
    ("DefaultEndpointsProtocol=https;AccountName=mlprodstore;AccountKey=a2V5;EndpointSuffix=core.windows.net",
     "mlprodstore"),
    ("https://mlprodstore.blob.core.windows.net", "mlprodstore"),
    ("https://mlprodstore.blob.core.windows.net/", "mlprodstore"),
    ("http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1"),
    ("mlprodstore", "mlprodstore"),
    ("BlobEndpoint=https://mlprodstore.blob.core.windows.net;SharedAccessSignature=sv=1", "mlprodstore"),
    ("DefaultEndpointsProtocol=https;EndpointSuffix=core.windows.net", None),
    ("", None),
])
def test_the_account_a_storage_setting_names(storage: str, expected: str | None) -> None:
    assert account_name_of(storage) == expected
