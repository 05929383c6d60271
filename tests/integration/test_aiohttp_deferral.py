"""A driver or CLI that uses the Storage SDK does not load aiohttp, and the SDK's async clients still work.

Each probe runs in a fresh interpreter: what it imports is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _probe(code: str, azurite: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), azurite, f"defer-{uuid.uuid4().hex[:10]}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# A blob name whose signature differs when the async transport's path handling is not applied: the
# signing module asks `isinstance(transport, AioHttpTransport)` for exactly that.
_NAME = "a folder/with space%20and+plus.txt"


def test_the_storage_sdk_signs_requests_without_loading_aiohttp(azurite: str) -> None:
    seen = _probe(f"""
        import json, sys
        import pipeline_core
        from azure.storage.blob import ContainerClient
        container = ContainerClient.from_connection_string(sys.argv[1], sys.argv[2])
        container.create_container()
        container.upload_blob({_NAME!r}, b"sync")
        data = container.download_blob({_NAME!r}).readall().decode()
        print(json.dumps({{"aiohttp": "aiohttp" in sys.modules, "data": data}}))
    """, azurite)
    assert seen == {"aiohttp": False, "data": "sync"}


def test_the_async_clients_still_sign_with_the_real_aiohttp_transport(azurite: str) -> None:
    seen = _probe(f"""
        import asyncio, json, sys
        import pipeline_core
        from azure.storage.blob import ContainerClient
        ContainerClient.from_connection_string(sys.argv[1], sys.argv[2]).create_container()
        import azure.core.pipeline.transport as transport
        from azure.storage.blob._shared import authentication
        from azure.storage.blob.aio import ContainerClient as AsyncContainerClient

        async def roundtrip():
            async with AsyncContainerClient.from_connection_string(sys.argv[1], sys.argv[2]) as container:
                await container.upload_blob({_NAME!r}, b"async")
                stream = await container.download_blob({_NAME!r})
                return (await stream.readall()).decode()

        data = asyncio.run(roundtrip())
        real = transport.AioHttpTransport
        print(json.dumps({{"data": data, "real": real.__module__,
                          "signing_sees_it": isinstance(real(), authentication.AioHttpTransport),
                          "plain_object": isinstance(object(), authentication.AioHttpTransport)}}))
    """, azurite)
    assert seen == {"data": "async", "real": "azure.core.pipeline.transport._aiohttp",
                    "signing_sees_it": True, "plain_object": False}


def test_a_process_that_already_loaded_aiohttp_keeps_the_sdk_as_it_is(azurite: str) -> None:
    seen = _probe("""
        import json, sys
        import aiohttp
        import pipeline_core
        from azure.storage.blob._shared import authentication
        import azure.core.pipeline.transport as transport
        print(json.dumps({"same": authentication.AioHttpTransport is transport.AioHttpTransport}))
    """, azurite)
    assert seen == {"same": True}


def test_amlite_runs_and_show_read_run_rows_without_loading_the_blob_sdk(azurite: str) -> None:
    """The two commands a user types most need the Tables SDK alone (the Blob SDK is ~200 ms of a start)."""
    from pipeline_core.engine.services import services_for

    run_id = str(uuid.uuid4())
    services_for(azurite).runs.create_run(run_id, f"cli-{uuid.uuid4().hex[:8]}", {"graph_id": "g"}, [("prep", {})])
    for command in (["runs"], ["show", run_id]):
        probe = textwrap.dedent(f"""
            import contextlib, io, json, sys
            from amlite_cli.commands import main
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                code = main({command!r})
            print(json.dumps({{"code": code, "blob": "azure.storage.blob" in sys.modules,
                              "tables": "azure.data.tables" in sys.modules, "shown": {run_id[:8]!r} in out.getvalue()}}))
        """)
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "AMLITE_STORAGE": azurite, "COLUMNS": "200"})
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen == {"code": 0, "blob": False, "tables": True, "shown": True}, (command, seen)


def test_a_local_run_never_loads_aiohttp_and_the_durable_client_loads_it_when_it_sends(azurite: str,
                                                                                        tmp_path: Path) -> None:
    """The in-process engine starts orchestrations itself; the Durable client's HTTP module, imported with
    Durable Functions, gets the real aiohttp on its first request (a real request to a local server here)."""
    (tmp_path / "hello.py").write_text("print('hello')\n")
    seen = _probe(f"""
        import asyncio, json, sys, threading
        from http.server import BaseHTTPRequestHandler, HTTPServer
        from pipeline_core import Experiment, Pipeline, PythonScriptStep, Workspace

        ws = Workspace(storage=sys.argv[1])
        step = PythonScriptStep("hello.py", name="hello", source_directory={str(tmp_path)!r}, allow_reuse=False)
        status = Experiment(ws, sys.argv[2]).submit(Pipeline(ws, [step])).wait_for_completion(show_output=False)
        after_run = "aiohttp" in sys.modules

        class Answer(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                body = b'{{"ok": true}}'
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = HTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        from azure.durable_functions.models.utils import http_utils
        answer = asyncio.run(http_utils.post_async_request(f"http://127.0.0.1:{{server.server_port}}/start", {{"a": 1}}))
        import aiohttp
        print(json.dumps({{"status": status, "aiohttp_after_run": after_run, "answer": answer[0],
                          "real_module_in_place": http_utils.aiohttp is aiohttp}}))
    """, azurite)
    assert seen == {"status": "Finished", "aiohttp_after_run": False, "answer": 202, "real_module_in_place": True}
