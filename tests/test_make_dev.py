"""`make dev` as the README says, from a plain shell (no venv on PATH): the Dagster UI comes up and
its code location loads with every asset and asset check of the definitions.

Asked through the UI's own GraphQL API on 127.0.0.1; the whole process group is stopped after.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on PythonError { message }
    ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } }
      jobs { name } } } } } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_make_dev_loads_the_code_location(tmp_path):
    from orchestration.definitions import defs

    port = _free_port()
    env = {"HOME": os.environ.get("HOME", str(tmp_path)), "PATH": "/usr/local/bin:/usr/bin:/bin",  # no .venv/bin
           "CRM_PULSE_WAREHOUSE_DIR": str(tmp_path / "warehouse"), "CRM_PULSE_LANDING_DIR": str(tmp_path / "landing"),
           "CRM_PULSE_HASH_KEY_FILE": os.environ["CRM_PULSE_HASH_KEY_FILE"], "DO_NOT_TRACK": "1"}
    (tmp_path / "landing").mkdir()
    log = (tmp_path / "dev.log").open("w")
    proc = subprocess.Popen(["make", "dev", f"DEV_PORT={port}"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline, entries = time.monotonic() + 240, None
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "dev.log").read_text()[-3000:]
            try:
                result = _graphql(port, QUERY)["data"]["workspaceOrError"]
                entries = result["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]:
                    break
            except (OSError, KeyError, TypeError, ValueError):
                pass
            time.sleep(2)
        assert entries, "the Dagster UI did not answer: " + (tmp_path / "dev.log").read_text()[-3000:]
        [entry] = entries
        loaded = entry["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", loaded
        [repo] = loaded["repositories"]
        keys = {"/".join(n["assetKey"]["path"]) for n in repo["assetNodes"]}
        graph = defs.resolve_asset_graph()
        assert keys >= {key.to_user_string() for key in graph.get_all_asset_keys()}
        assert "refresh" in {job["name"] for job in repo["jobs"]}
        checks = _graphql(port, """{ assetNodes { assetKey { path } assetChecksOrError {
            ... on AssetChecks { checks { name } } } } }""")["data"]["assetNodes"]
        names = {("/".join(n["assetKey"]["path"]), c["name"]) for n in checks
                 for c in (n["assetChecksOrError"] or {}).get("checks", [])}
        assert names == {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
