"""``llamashield serve`` from the command line: its errors, and a real process serving."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("typer")
from typer.testing import CliRunner

from llamashield._exceptions import NO_BACKEND
from llamashield.cli._app import app
from llamashield.serve import hash_key
from llamashield.testing import LoopbackServer

runner = CliRunner()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TOGETHER_API_KEY", "LLAMASHIELD_API_KEYS", "LLAMASHIELD_API_KEY_HASHES"):
        monkeypatch.delenv(name, raising=False)


def test_no_backend_exits_2_with_one_line() -> None:
    result = runner.invoke(app, ["serve", "--no-auth"], env={"COLUMNS": "60"})
    assert result.exit_code == 2
    assert result.output.strip() == f"error: {NO_BACKEND}"


def test_no_keys_exits_2_and_says_how() -> None:
    result = runner.invoke(app, ["serve", "--backend", "simulated"])
    assert result.exit_code == 2 and "--no-auth" in result.output
    assert result.output.strip().count("\n") == 0


def test_hash_key_prints_the_stored_form() -> None:
    result = runner.invoke(app, ["serve", "--hash-key", "sk-abc"])
    assert result.exit_code == 0 and result.output.strip() == hash_key("sk-abc")


def test_a_served_process_answers_and_stops(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "serve.toml"
    with LoopbackServer() as guard_server:
        config.write_text(
            f'backend = "openai"\nbase_url = "{guard_server.openai_base_url}"\n'
            f'model = "meta-llama/LlamaGuard-2-8b"\nport = {port}\ncache = "none"\n'
        )
        env = {**os.environ, "LLAMASHIELD_API_KEYS": "sk-process"}
        command = [sys.executable, "-c", "from llamashield.cli import main; main()",
                   "serve", "--config", str(config)]  # fmt: skip
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT)  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
            response = httpx.post(f"{url}/v1/moderations", json={"input": "zebra bomb"},
                                  headers={"Authorization": "Bearer sk-process"})  # fmt: skip
            assert response.status_code == 200 and response.json()["results"][0]["flagged"]
            assert guard_server.count("/completions") == 1  # raw prompt, openai-compatible
        finally:
            process.terminate()
            output = process.communicate(timeout=30)[0].decode()
    assert "zebra" not in output and "ready" in output


def test_serve_without_its_extras_exits_2_saying_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llamashield.serve", None)  # as if not installed
    result = runner.invoke(app, ["serve", "--no-auth", "--backend", "simulated"])
    assert result.exit_code == 2
    assert result.output.startswith("error:") and "llamashield.serve" in result.output


def test_flags_win_over_the_config_file_and_uvicorn_logs_no_access_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    handed: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.append((app, options)))
    before = repr(LOGGING_CONFIG)
    config = tmp_path / "serve.toml"
    config.write_text('backend = "simulated"\nhost = "127.0.0.1"\nport = 8100\nno_auth = true\n')
    result = runner.invoke(app, ["serve", "--config", str(config), "--port", "8123"])
    assert result.exit_code == 0, result.output
    [(served, options)] = handed
    assert callable(served)  # the ASGI app
    assert (options["host"], options["port"], options["access_log"]) == ("127.0.0.1", 8123, False)
    logging = options["log_config"]
    assert isinstance(logging, dict)
    assert logging["loggers"]["llamashield"]["handlers"] == ["default"]
    assert repr(LOGGING_CONFIG) == before  # uvicorn's own defaults are left as they were
