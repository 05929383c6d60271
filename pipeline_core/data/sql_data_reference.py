"""``SqlDataReference``: a table, a query or a stored procedure's result on a database datastore (AML v1).

DataTransferStep is its only consumer: the reference names what to read
(``sql_query``, ``sql_table`` or ``sql_stored_procedure``) or, as a
destination, the table to write (``sql_table``).
"""

from __future__ import annotations

import re
from typing import Any

from pipeline_core.errors import AmliteError

#: A table name, optionally schema-qualified: letters, digits and underscores only, never SQL text.
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class SqlDataReference:
    """Exactly one of ``sql_query``, ``sql_table`` and ``sql_stored_procedure``."""

    def __init__(self, datastore: Any, data_reference_name: str | None = None, sql_table: str | None = None,
                 sql_query: str | None = None, sql_stored_procedure: str | None = None,
                 sql_stored_procedure_params: list[Any] | None = None):
        if datastore is None:
            raise AmliteError("SqlDataReference needs a database datastore, e.g. "
                              "Datastore.register_azure_postgre_sql(...)")
        given = [n for n, v in (("sql_table", sql_table), ("sql_query", sql_query),
                                ("sql_stored_procedure", sql_stored_procedure)) if v]
        if len(given) != 1:
            raise AmliteError("SqlDataReference takes exactly one of sql_table, sql_query and sql_stored_procedure"
                              f" (got {', '.join(given) or 'none'})")
        for label, name in (("sql_table", sql_table), ("sql_stored_procedure", sql_stored_procedure)):
            if name and not _TABLE_NAME.match(name):
                raise AmliteError(f"SqlDataReference {label}={name!r} is not a name: use letters, digits and "
                                  "underscores, optionally schema.name")
        self.datastore = datastore
        self.datastore_name: str = datastore if isinstance(datastore, str) else datastore.name
        self.data_reference_name = data_reference_name or sql_table or sql_stored_procedure or "sql_query"
        self.sql_table = sql_table
        self.sql_query = sql_query
        self.sql_stored_procedure = sql_stored_procedure
        self.sql_stored_procedure_params = list(sql_stored_procedure_params or [])

    def to_dict(self) -> dict[str, Any]:
        """What a pipeline spec records (no credentials: those stay in the datastore registration)."""
        return {"datastore": self.datastore_name, "name": self.data_reference_name, "sql_table": self.sql_table,
                "sql_query": self.sql_query, "sql_stored_procedure": self.sql_stored_procedure,
                "sql_stored_procedure_params": self.sql_stored_procedure_params}

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name}"

    def __repr__(self) -> str:
        what = self.sql_table or self.sql_stored_procedure or self.sql_query
        return f"SqlDataReference(datastore={self.datastore_name!r}, name={self.data_reference_name!r}, source={what!r})"
