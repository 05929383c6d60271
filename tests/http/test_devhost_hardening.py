"""The dev host as an attacker and an operator meet it: management routes need the system key, framework
errors are JSON, links never follow a hostile Host header, step logs come in pages, and ``amlite dev``
refuses to expose an unauthenticated API.

Real sockets to the session's dev host (``http_host``); raw sockets where ``requests`` would refuse to
send the malformed request.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from http_support import error_of, on_host, wait_status
from jwks_support import LocalIssuer, mint

from amlite_local.host import DevHost, check_exposure
from pipeline_core import Pipeline, PublishedPipeline, PythonScriptStep, Workspace
from pipeline_core.client.api import AmliteClient
from pipeline_core.client.runs import RestRunSource
from pipeline_core.rest.runs.handlers import LOG_PAGE_BYTES

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_APP = REPO_ROOT / "tests" / "devhost" / "sample_app"
WEBHOOKS = "/runtime/webhooks/durabletask"
HOSTILE = "evil.example.com"


def _raw(port: int, request: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is; return the status, headers (lower-case names) and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), None)
            if sep and length is not None and len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


# -- the Durable management API ------------------------------------------------------------------
def test_management_routes_need_the_system_key_even_with_entra(http_host: DevHost, http_base: str,
                                                               noop_published: PublishedPipeline,
                                                               entra_auth: LocalIssuer) -> None:
    """With AMLITE_AUTH=entra, nobody without the key lists, terminates or starts orchestrations."""
    token = mint(entra_auth.key)  # a Submit role holder: may submit, may not manage orchestrations
    answer = requests.post(on_host(noop_published.endpoint, http_base), json={"ExperimentName": "hardening"},
                           headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 202, answer.text
    run_id = answer.json()["Id"]
    instance = f"{http_base}{WEBHOOKS}/instances/{run_id}"
    for method, url in (("GET", f"{http_base}{WEBHOOKS}/instances"), ("GET", instance),
                        ("POST", f"{instance}/terminate?reason=x"), ("POST", f"{instance}/raiseEvent/cancel"),
                        ("POST", f"{http_base}{WEBHOOKS}/orchestrators/pipeline_run/forged"),
                        ("DELETE", instance)):
        refused = requests.request(method, url, timeout=10, headers={"Authorization": f"Bearer {token}"})
        assert error_of(refused, 401)["code"] == "SystemKeyRequired", (method, url)
        wrong = requests.request(method, url, params={"code": "guess"}, timeout=10)
        assert error_of(wrong, 401)["code"] == "InvalidSystemKey"
    assert wait_status(http_base, run_id, headers={"Authorization": f"Bearer {token}"}) == "Finished"
    key = http_host.system_key
    status = requests.get(instance, params={"code": key}, timeout=10)
    assert status.status_code == 200 and status.json()["runtimeStatus"] == "Completed"
    listed = requests.get(f"{http_base}{WEBHOOKS}/instances", headers={"x-functions-key": key}, timeout=10)
    assert listed.status_code == 200 and run_id in {i["instanceId"] for i in listed.json()}


def test_client_binding_links_carry_the_key_and_rpc_needs_its_secret_path(http_host: DevHost) -> None:
    import json

    binding = json.loads(http_host.client_binding_json())
    status_url = binding["managementUrls"]["statusQueryGetUri"].replace("INSTANCEID", "nobody")
    assert f"code={http_host.system_key}" in status_url
    assert requests.get(status_url, timeout=10).status_code == 404  # accepted key, unknown instance
    rpc = binding["rpcBaseUrl"]
    assert rpc.startswith(f"http://127.0.0.1:{http_host.rpc_port}/") and rpc.endswith("/durabletask/")
    assert requests.get(f"{rpc}instances/", timeout=10).status_code == 200
    guessed = requests.get(f"http://127.0.0.1:{http_host.rpc_port}/durabletask/instances/", timeout=10)
    assert error_of(guessed, 404)["code"] == "NotFound"


# -- framework-level errors ------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "request_bytes", "status", "code"), [
    ("body over 100 MB", b"POST /api/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 104857601\r\n\r\n{", 413, "RequestTooLarge"),
    ("header over 8 KB", b"GET /api/pipelines HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
     431, "RequestHeadersTooLarge"),
    ("too many headers", b"GET /api/pipelines HTTP/1.1\r\nHost: x\r\n"
                         + b"".join(b"X-H%d: 1\r\n" % i for i in range(200)) + b"\r\n", 431, "RequestHeadersTooLarge"),
    ("URL over 8 KB", b"GET /api/runs/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "UriTooLong"),
    ("control character in the path", b"GET /api/runs/a\x01b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "MalformedRequest"),
    ("control character in a header", b"GET /api/pipelines HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400,
     "MalformedRequest"),
    ("NUL in a header", b"GET /api/pipelines HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "MalformedRequest"),
    ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, "MalformedRequest"),
    ("bad Content-Length", b"POST /api/runs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400,
     "MalformedRequest"),
])
def test_framework_errors_are_json(http_host: DevHost, name: str, request_bytes: bytes, status: int,
                                   code: str) -> None:
    began = time.monotonic()
    answered, headers, body = _raw(http_host.port, request_bytes)
    assert answered == status, (name, body[:300])
    assert headers["content-type"].startswith("application/json"), name
    import json

    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"] and error["details"] == []
    assert b"aaaa" not in body and b"\\x01" not in body  # no echo of the request
    assert time.monotonic() - began < 3, f"{name}: the host read what it should have refused"


def test_encoded_control_characters_get_a_json_4xx(http_base: str) -> None:
    for path in ("/api/runs/%00", "/api/runs/a%0Ab/steps", "/api/pipelines/%1B%5B31m", "/api/runs/%ff%fe"):
        answer = requests.get(http_base + path, timeout=10)
        assert 400 <= answer.status_code < 500, (path, answer.text)
        error_of(answer, answer.status_code)


# -- links never follow the Host header ------------------------------------------------------------
def _submit(http_base: str, published: PublishedPipeline, headers: dict[str, str]) -> requests.Response:
    answer = requests.post(on_host(published.endpoint, http_base), json={"ExperimentName": "links"},
                           headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
    wait_status(http_base, answer.json()["Id"])
    return answer


def _links(http_base: str, published: PublishedPipeline, headers: dict[str, str]) -> set[str]:
    submitted = _submit(http_base, published, headers)
    pipeline = requests.get(f"{http_base}/api/pipelines/{published.id}", headers=headers, timeout=10).json()
    servers = requests.get(f"{http_base}/api/openapi.json", headers=headers, timeout=10).json()["servers"]
    return {submitted.headers["Location"], submitted.json()["RunUrl"], pipeline["Endpoint"], servers[0]["url"]}


def _origins(urls: set[str]) -> set[str]:
    from urllib.parse import urlsplit

    return {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in urls}


def test_hostile_host_header_is_not_reflected(http_base: str, noop_published: PublishedPipeline,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = {"Host": HOSTILE, "X-Forwarded-Host": HOSTILE, "X-Forwarded-Proto": "https"}
    assert _origins(_links(http_base, noop_published, hostile)) == {http_base}
    monkeypatch.setenv("AMLITE_PUBLIC_BASE_URL", "https://pipelines.contoso.test/")
    assert _origins(_links(http_base, noop_published, hostile)) == {"https://pipelines.contoso.test"}


def test_forwarded_host_counts_only_from_a_trusted_proxy(http_base: str, noop_published: PublishedPipeline,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    forwarded = {"X-Forwarded-Host": "evil.example.com, gateway.contoso.test", "X-Forwarded-Proto": "https"}
    monkeypatch.setenv("AMLITE_TRUSTED_PROXIES", "10.9.8.7, 192.0.2.0/24")  # not us
    assert _origins(_links(http_base, noop_published, forwarded)) == {http_base}
    monkeypatch.setenv("AMLITE_TRUSTED_PROXIES", "127.0.0.1")
    # the nearest proxy's value (the last one) wins; what a client put before it does not
    assert _origins(_links(http_base, noop_published, forwarded)) == {"https://gateway.contoso.test"}
    bad = {"X-Forwarded-Host": "evil.example.com/path?x=", "X-Forwarded-Proto": "https"}
    assert _origins(_links(http_base, noop_published, bad)) == {http_base}


def test_a_bad_public_base_url_is_named(http_base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMLITE_PUBLIC_BASE_URL", "ftp://nope")
    answer = requests.get(f"{http_base}/api/pipelines", timeout=10)
    assert answer.status_code == 500 and answer.json()["error"]["code"] == "InvalidConfiguration"
    assert "AMLITE_PUBLIC_BASE_URL" in answer.json()["error"]["message"]


# -- step logs in pages ----------------------------------------------------------------------------
#: About 2.6 MiB of log: multi-byte characters, so page ends fall inside characters.
BIG_LOG = """
import sys
line = "é€𝄞 amlite log line {:06d} " + "x" * 60 + "\\n"
for i in range(28000):
    sys.stdout.write(line.format(i))
"""


def test_step_log_answers_in_pages_and_the_remote_client_follows_them(http_base: str, http_workspace: Workspace,
                                                                      tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text(BIG_LOG, encoding="utf-8")
    step = PythonScriptStep("big.py", name="big", source_directory=str(tmp_path), allow_reuse=False)
    published = Pipeline(http_workspace, [step]).publish(name=f"big-log-{uuid.uuid4().hex[:8]}")
    answer = requests.post(on_host(published.endpoint, http_base), json={"ExperimentName": "big-log"}, timeout=10)
    run_id = answer.json()["Id"]
    assert wait_status(http_base, run_id, timeout=120) == "Finished"
    url = f"{http_base}/api/runs/{run_id}/steps/big/logs"
    pages: list[bytes] = []
    offset, size = 0, None
    while size is None or offset < size:
        page = requests.get(url, params={"offset": offset, "file": "stdout.txt"}, timeout=30)
        assert page.status_code == 200 and len(page.content) <= LOG_PAGE_BYTES
        assert "\ufffd" not in page.text  # every page ends on a whole character
        offset, size = int(page.headers["X-Log-Offset"]), int(page.headers["X-Log-Size"])
        pages.append(page.content)
    assert len(pages) >= 3 and size > 2 * LOG_PAGE_BYTES
    text = b"".join(pages).decode("utf-8")
    assert text.count("amlite log line") == 28000 and "amlite log line 027999" in text
    source = RestRunSource(AmliteClient(http_base), run_id)
    whole, end = source.read_log("big", "stdout.txt")
    assert whole == b"".join(pages) and end == size
    rest, end_again = source.read_log("big", "stdout.txt", offset=end)
    assert rest == b"" and end_again == end


# -- amlite dev refuses and warns -------------------------------------------------------------------
def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMLITE_AUTH", "AMLITE_SYSTEM_KEY",
                                                                     "AMLITE_PUBLIC", "WEBSITE_"))}
    return {**env, **extra}


def test_amlite_dev_refuses_a_public_host_without_auth(tmp_path: Path) -> None:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "amlite_cli", "dev", str(tmp_path), "--host", "0.0.0.0",
                           "--port", "0"], env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "AMLITE_AUTH=none" in done.stderr and "--host 127.0.0.1" in done.stderr
    assert "AMLITE_AUTH=key" in done.stderr and "AMLITE_FUNCTION_KEYS" in done.stderr
    assert time.monotonic() - began < 30  # refused before any emulator was started
    assert not (tmp_path / ".azurite").exists()


def test_exposure_check() -> None:
    assert check_exposure("0.0.0.0", {"AMLITE_AUTH": "key", "AMLITE_FUNCTION_KEYS": "k" * 32})[0] is None
    assert check_exposure("::", {})[0] == 2
    assert check_exposure("localhost", {})[0] is None
    code, messages = check_exposure("::1", {"AMLITE_AUTH": "none"})
    assert code is None and any("WARNING: AMLITE_AUTH=none" in m for m in messages)
    assert check_exposure("127.0.0.1", {"AMLITE_PUBLIC_BASE_URL": "not a url"})[0] == 2
    assert check_exposure("127.0.0.1", {"AMLITE_TRUSTED_PROXIES": "10.0.0.300"})[0] == 2


def _read_until(stream: Any, marker: str, deadline: float) -> str:
    seen = ""
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen += line
        if marker in line:
            return seen
    raise AssertionError(f"{marker!r} not printed; got:\n{seen}")


def test_dev_host_warns_once_and_prints_a_generated_system_key() -> None:
    """The warning and the key go to stderr once at start; the key guards the management routes."""
    process = subprocess.Popen([sys.executable, "-m", "amlite_local", str(SAMPLE_APP), "--port", "0",
                                "--no-timers"], env=_clean_env(), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               text=True, start_new_session=True)
    try:
        stderr = _read_until(process.stderr, "generated for this run", time.monotonic() + 30)
        assert stderr.count("WARNING: AMLITE_AUTH=none") == 1
        key_lines = [line for line in stderr.splitlines() if "system key for" in line]
        assert len(key_lines) == 1
        key = key_lines[0].rsplit(" ", 1)[1]
        assert len(key) >= 40
        port = int(stderr.split("Host started")[1].split("http://127.0.0.1:")[1].split()[0])
        base = f"http://127.0.0.1:{port}{WEBHOOKS}/instances"
        assert requests.get(base, timeout=10).status_code == 401
        assert requests.get(base, params={"code": key}, timeout=10).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
    assert process.returncode == 0


def test_system_key_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from amlite_devhost.app_loader import load_app

    monkeypatch.setenv("AMLITE_SYSTEM_KEY", "a-key-the-operator-chose-0123456789")
    app = load_app(SAMPLE_APP, import_name="amlite_devhost_sample_function_app")
    with DevHost(SAMPLE_APP, port=0, app=app, enable_timers=False, load_settings=False) as host:
        assert host.system_key == "a-key-the-operator-chose-0123456789" and not host.system_key_generated
        url = f"{host.base_url}{WEBHOOKS}/instances"
        assert requests.get(url, headers={"x-functions-key": "a-key-the-operator-chose-0123456789"},
                            timeout=10).status_code == 200
        assert requests.get(url, params={"code": "a-key-the-operator-chose-012345678"}, timeout=10).status_code == 401


def test_public_base_url_precedence() -> None:
    from pipeline_core.rest.public_url import PublicUrlError, configured_base_url, request_base_url

    azure = {"WEBSITE_HOSTNAME": "amlite-app.azurewebsites.net"}
    assert configured_base_url(azure) == "https://amlite-app.azurewebsites.net"
    both = {**azure, "AMLITE_PUBLIC_BASE_URL": "https://gw.contoso.test/amlite/"}
    assert configured_base_url(both) == "https://gw.contoso.test/amlite"
    assert request_base_url(f"http://{HOSTILE}/api/runs", azure) == "https://amlite-app.azurewebsites.net"
    assert request_base_url("http://127.0.0.1:7071/api/runs", {}) == "http://127.0.0.1:7071"
    for bad in ("https://user:pw@host", "https://host/?q=1", "javascript:alert(1)", "https://ho st"):
        with pytest.raises(PublicUrlError, match="AMLITE_PUBLIC_BASE_URL"):
            configured_base_url({"AMLITE_PUBLIC_BASE_URL": bad})
