"""Over real sockets: a refused submit names the body field from the error's ``parameter``, not its message."""

from __future__ import annotations

import pytest
import requests
from http_support import error_of, on_host

from pipeline_core import PublishedPipeline

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("body", "code", "target"), [
    ({"ExperimentName": "e", "ParameterAssignments": {"sleep": "soon"}}, "InvalidParameterAssignment",
     "ParameterAssignments.sleep"),
    ({"ExperimentName": "e", "DataPathAssignments": {"sleep": {"DataStoreName": "workspaceblobstore",
                                                                "RelativePath": "a"}}},
     "InvalidParameterAssignment", "DataPathAssignments.sleep"),
    ({"ExperimentName": "no spaces allowed"}, "InvalidField", "ExperimentName"),
])
def test_submit_refusals_name_the_field(http_base: str, echo_published: PublishedPipeline, body: dict[str, object],
                                        code: str, target: str) -> None:
    answer = requests.post(on_host(echo_published.endpoint, http_base), json=body, timeout=10)
    error = error_of(answer, 400)
    assert error["code"] == code, error
    assert [detail["target"] for detail in error["details"]] == [target], error
