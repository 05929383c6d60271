"""Data transfer for DataTransferStep: Blob server-side copies and database <-> Blob movement.

``blob_copy`` never passes a blob's bytes through the worker (the storage
service copies them); ``sql`` streams rows in chunks between a database and a
CSV or Parquet blob. Both give a reuse identity of their source.
"""

from pipeline_core.transfer.blob_copy import CopiedBlob, CopyResult, blob_identity, copy_blobs, source_url
from pipeline_core.transfer.data_transfer import (
    BlobEndpoint,
    SqlEndpoint,
    TransferResult,
    blob_endpoint,
    resolve,
    source_identity,
    sql_endpoint,
    transfer,
    transfer_between,
)
from pipeline_core.transfer.sql import (
    SqlTransferResult,
    database_identity,
    engine_for,
    export_to_blob,
    import_from_blob,
)

__all__ = ["BlobEndpoint", "SqlEndpoint", "blob_endpoint", "sql_endpoint", "transfer_between", "CopiedBlob", "CopyResult", "SqlTransferResult", "TransferResult", "resolve", "source_identity", "transfer", "blob_identity", "copy_blobs", "database_identity",
           "engine_for", "export_to_blob", "import_from_blob", "source_url"]
