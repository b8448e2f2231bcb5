"""`valet serve` over a real socket: every request acts as the user its token names,
with the engine's access rules and the token's scope; reads answer as the local
repository does; SIAv2 through pyvo answers as `valet obscore siav2` does."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import DP02_MINI, REPO_ROOT, fresh_pg_database

VALET = REPO_ROOT / "target" / "debug" / "valet"
CHAIN = "2.2i/runs/DP0.2/v23_0_0_rc5/PREOPS-905"
ADMIN = "alice"


def valet(*args: str, user: str = ADMIN) -> str:
    done = subprocess.run(
        [str(VALET), *args], capture_output=True, text=True, env={**os.environ, "VALET_USER": user}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """A served dp02-mini repository with a live ObsCore table, and tokens."""
    root = tmp_path_factory.mktemp(f"serve-{request.param}")
    repo = str(root / "repo")
    create = ["create", repo] + (["--db", fresh_pg_database()] if request.param == "postgresql" else [])
    valet(*create)
    valet("import", repo, str(DP02_MINI / "files"), "--export-file", "../export.yaml", "-t", "copy")
    valet("obscore", "enable", repo, str(REPO_ROOT / "examples" / "obscore-dp02.yaml"))
    tokens = {
        "alice-admin": valet("token", "create", repo, "alice", "--scope", "admin").strip().splitlines()[-1],
        "alice-write": valet("token", "create", repo, "alice", "--scope", "write").strip().splitlines()[-1],
        "bob": valet("token", "create", repo, "bob").strip().splitlines()[-1],
        "carol-read": valet("token", "create", repo, "carol", "--scope", "read").strip().splitlines()[-1],
        "revoked": valet("token", "create", repo, "dave").strip().splitlines()[-1],
        "expired": valet("token", "create", repo, "erin", "--expires-days", "0.00000001").strip().splitlines()[-1],
    }
    valet("token", "revoke", repo, tokens["revoked"].split("_")[1])
    proc = subprocess.Popen(
        [str(VALET), "serve", repo, "--listen", "127.0.0.1:0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "VALET_USER": "root-of-the-server"},
    )
    line = proc.stderr.readline()
    assert "listening on http://" in line, line
    base = line.strip().split("listening on ")[1]
    yield base, repo, tokens
    proc.terminate()
    proc.wait(10)


def call(base, method, path, token=None, body=None):
    """(status, parsed JSON or text) of one request."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, text = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def test_identity_comes_from_the_token(server):
    base, _, tokens = server
    assert call(base, "GET", "/api/v1/whoami", tokens["bob"]) == (200, {"user": "bob", "scope": "write"})
    assert call(base, "GET", "/api/v1/whoami") == (200, {"user": "anonymous", "scope": "read"})
    status, body = call(base, "GET", "/api/v1/whoami", tokens["revoked"])
    assert status == 401 and "revoked" in body["error"]
    status, body = call(base, "GET", "/api/v1/whoami", tokens["expired"])
    assert status == 401 and "expired" in body["error"]
    status, body = call(base, "GET", "/api/v1/whoami", "valet_0000_nonsense")
    assert status == 401 and "unknown token" in body["error"]


def test_only_admins_make_tokens(server):
    _, repo, _ = server
    done = subprocess.run([str(VALET), "token", "create", repo, "mallory", "--scope", "admin"],
                          capture_output=True, text=True, env={**os.environ, "VALET_USER": "bob"})
    assert done.returncode != 0 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "admin" in done.stderr
    listed = valet("token", "list", repo)
    assert "mallory" not in listed and " bob write active" in listed and " dave write revoked" in listed


def test_access_rules_through_tokens(server):
    base, _, tokens = server
    new = lambda name: {"name": name, "type": "RUN"}
    assert call(base, "POST", "/api/v1/collections", None, new("u/anon/x"))[0] == 401
    status, body = call(base, "POST", "/api/v1/collections", tokens["carol-read"], new("u/carol/x"))
    assert status == 403 and "rule: token-scope" in body["error"]
    assert call(base, "POST", "/api/v1/collections", tokens["bob"], new("u/bob/run"))[0] == 201
    status, body = call(base, "POST", "/api/v1/collections", tokens["bob"], new("shared/bob"))
    assert status == 403 and "rule: shared-needs-admin" in body["error"]
    status, body = call(base, "POST", "/api/v1/collections", tokens["bob"], new("u/alice/sneaky"))
    assert status == 403 and "personal-collections-are-their-owners" in body["error"]
    # An admin's write-scoped token does not carry the admin's rights; an admin one does.
    assert call(base, "POST", "/api/v1/collections", tokens["alice-write"], new("shared/alice"))[0] == 403
    assert call(base, "POST", "/api/v1/collections", tokens["alice-admin"], new("shared/alice"))[0] == 201
    # A body cannot claim another identity: the chain's history names the token's user.
    chain = "u/bob/chain"
    assert call(base, "POST", "/api/v1/collections", tokens["bob"], {"name": chain, "type": "CHAINED"})[0] == 201
    body = {"children": ["u/bob/run", CHAIN], "user": "alice"}
    assert call(base, "PUT", f"/api/v1/chains/{chain}", tokens["bob"], body) == (
        200,
        {"children": ["u/bob/run", CHAIN]},
    )
    status, history = call(base, "GET", f"/api/v1/chain-history/{chain}")
    assert status == 200 and [e["edited_by"] for e in history] == ["bob"]


def test_reads_answer_as_the_repository(server):
    base, repo, tokens = server
    local = json.loads(valet("query-datasets", repo, "calexp", "--collections", CHAIN, "--find-first",
                             "--show-uri", "--format", "json", "--limit", "0"))
    status, text = call(base, "POST", "/api/v1/query-datasets", tokens["carol-read"],
                        {"dataset_types": ["calexp"], "collections": [CHAIN], "find_first": True})
    remote = [json.loads(line) for line in text.splitlines()]
    assert status == 200
    assert sorted((d["id"], d["run"]) for d in remote) == sorted((d["id"], d["run"]) for d in local)
    one = remote[len(remote) // 2]
    status, found = call(base, "POST", "/api/v1/find-dataset", None,
                         {"dataset_type": "calexp", "data_id": one["data_id"], "collections": [CHAIN]})
    assert status == 200 and found["id"] == one["id"]
    assert call(base, "POST", "/api/v1/find-dataset", None,
                {"dataset_type": "calexp", "data_id": {**one["data_id"], "visit": 99999}, "collections": [CHAIN]})[0] == 404
    assert call(base, "POST", "/api/v1/find-dataset", None,
                {"dataset_type": "calexp", "data_id": one["data_id"], "collections": ["no/such"]})[0] == 404
    with urllib.request.urlopen(f"{base}/api/v1/datasets/{one['id']}/file") as r:
        served = r.read()
    uri = next(d["URI"] for d in local if d["id"] == one["id"])
    assert served == open(uri.removeprefix("file://"), "rb").read()
    status, collections = call(base, "GET", "/api/v1/collections?glob=LSSTCam-imSim/*")
    assert status == 200 and {c["name"] for c in collections} >= {"LSSTCam-imSim/raw/all", "LSSTCam-imSim/calib"}


def test_siav2_through_pyvo(server, tmp_path):
    import pyvo
    from astropy.io.votable import parse_single_table

    base, repo, _ = server
    service = pyvo.dal.SIA2Service(base + "/sia")
    for pos in [(50.76, -30.98, 0.05), (51.2, -30.97, 0.3)]:
        remote = service.search(pos=pos)
        valet("obscore", "siav2", repo, str(tmp_path / "q.xml"), "--pos", "CIRCLE {} {} {}".format(*pos))
        local = parse_single_table(str(tmp_path / "q.xml"), verify="exception").to_table()
        assert sorted(str(r["obs_publisher_did"]) for r in remote) == sorted(str(x) for x in local["obs_publisher_did"])
        assert len(remote) > 0
    limited = service.search(pos=(51.0, -31.0, 2.0), maxrec=3)
    assert len(limited) == 3
    status, text = call(base, "GET", "/sia/query?POS=CIRCLE%201%202")
    assert status == 400 and 'value="ERROR"' in text
