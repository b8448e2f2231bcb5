"""`valet serve` over a real socket: every request acts as the user its token names,
with the engine's access rules and the token's scope; reads answer as the local
repository does; SIAv2 through pyvo answers as `valet obscore siav2` does."""

from __future__ import annotations

import json
import os
import subprocess
import time
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


def raw_get(base, path, token=None, headers=()):
    """(status, headers, bytes) of one GET."""
    req = urllib.request.Request(base + path)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for k, v in headers:
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_openapi_documents_every_route(server):
    base, _, _ = server
    status, doc = call(base, "GET", "/api/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    # The document and docs/server.md list the same endpoints.
    documented = set()
    for line in (REPO_ROOT / "docs" / "server.md").read_text().splitlines():
        if line.startswith("| `") and " /" in line:
            method, path = line.split("`")[1].split(" ", 1)
            documented.add((method.lower(), path))
    described = {(m, p) for p, ops in doc["paths"].items() for m in ops if m != "parameters"}
    assert documented == described
    # Every described endpoint exists: no routing 404 (which has no JSON body) or 405.
    samples = {"{name}": "no/such/collection", "{id}": "00000000-0000-0000-0000-000000000000"}
    for method, path in described:
        concrete = path
        for k, v in samples.items():
            concrete = concrete.replace(k, v)
        body = {} if method in ("post", "put") else None
        status, answer = call(base, method.upper(), concrete, None, body)
        assert status != 405, (method, path)
        assert status != 404 or isinstance(answer, dict) and "error" in answer, (method, path, answer)


def test_query_datasets_streamed_and_as_arrow(server):
    import pyarrow.ipc

    base, _, tokens = server
    search = {"dataset_types": ["calexp"], "collections": [CHAIN], "find_first": True}
    status, text = call(base, "POST", "/api/v1/query-datasets", tokens["bob"], search)
    lines = [json.loads(line) for line in text.splitlines()]
    assert status == 200 and len(lines) > 100
    req = urllib.request.Request(base + "/api/v1/query-datasets", data=json.dumps(search).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Accept", "application/vnd.apache.arrow.stream")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.headers["Content-Type"] == "application/vnd.apache.arrow.stream"
        table = pyarrow.ipc.open_stream(r.read()).read_all()
    assert table.column_names[:2] == ["id", "run"] and "visit" in table.column_names
    assert sorted(zip(table["id"].to_pylist(), table["visit"].to_pylist())) == sorted(
        (d["id"], d["data_id"]["visit"]) for d in lines
    )
    # Arrow holds one table; an unknown type fails before any row, with its status.
    status, body = call(base, "POST", "/api/v1/query-datasets", None, {**search, "dataset_types": ["nope"]})
    assert status == 404 and "nope" in body["error"]


def test_data_ids_records_and_lineage_answer_as_the_cli(server):
    base, repo, _ = server
    local = json.loads(valet("query-data-ids", repo, "visit", "detector", "--datasets", "calexp",
                             "--collections", CHAIN, "--format", "json"))
    status, remote = call(base, "POST", "/api/v1/query-data-ids", None,
                          {"dimensions": ["visit", "detector"], "dataset_types": ["calexp"], "collections": [CHAIN]})
    assert status == 200 and len(remote["rows"]) == len(local) > 0
    assert [dict(zip(remote["dimensions"], row)) for row in remote["rows"]] == local
    local = json.loads(valet("query-dimension-records", repo, "detector", "--where", "detector < 5",
                             "--format", "json"))
    status, remote = call(base, "POST", "/api/v1/query-dimension-records", None,
                          {"element": "detector", "where": "detector < 5"})
    assert status == 200 and remote["records"] == local and len(local) == 5
    status, body = call(base, "POST", "/api/v1/query-dimension-records", None, {"element": "nonsense"})
    assert status in (400, 404) and "nonsense" in body["error"]
    some = json.loads(valet("query-datasets", repo, "calexp", "--collections", CHAIN, "--format", "json",
                            "--limit", "1"))[0]["id"]
    status, graph = call(base, "GET", f"/api/v1/datasets/{some}/lineage?direction=down&depth=2")
    local = json.loads(valet("lineage", repo, some, "--down", "--depth", "2", "--format", "json"))
    assert status == 200 and graph == local
    assert call(base, "GET", f"/api/v1/datasets/{some}/lineage?direction=sideways")[0] == 400


def test_file_byte_ranges(server):
    base, repo, _ = server
    some = json.loads(valet("query-datasets", repo, "calexp", "--collections", CHAIN, "--format", "json",
                            "--limit", "1", "--show-uri"))[0]
    whole = open(some["URI"].removeprefix("file://"), "rb").read()
    path = f"/api/v1/datasets/{some['id']}/file"
    status, headers, served = raw_get(base, path)
    assert status == 200 and served == whole and headers["Accept-Ranges"] == "bytes"
    assert len(whole) > 30
    status, headers, part = raw_get(base, path, headers=[("Range", "bytes=10-29")])
    assert status == 206 and part == whole[10:30]
    assert headers["Content-Range"] == f"bytes 10-29/{len(whole)}"
    status, headers, part = raw_get(base, path, headers=[("Range", "bytes=10-")])
    assert status == 206 and part == whole[10:]
    status, headers, part = raw_get(base, path, headers=[("Range", "bytes=-7")])
    assert status == 206 and part == whole[-7:]
    status, headers, body = raw_get(base, path, headers=[("Range", f"bytes={len(whole)}-")])
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(whole)}"
    assert "outside" in json.loads(body)["error"]


def test_writes_over_http(server, tmp_path):
    """Ingest in place, prune, export, remove the RUN and import it back, as bob."""
    base, repo, tokens = server
    valet("register-dataset-type", repo, "bob_notes", "StructuredDataDict", "instrument", "detector")
    run = "u/bob/notes"
    folder = os.path.join(repo, "u", "bob", "incoming")
    os.makedirs(folder, exist_ok=True)
    files = []
    for d in range(3):
        with open(os.path.join(folder, f"n{d}.json"), "w") as f:
            json.dump({"detector": d}, f)
        files.append({"path": f"u/bob/incoming/n{d}.json",
                      "data_id": {"instrument": "LSSTCam-imSim", "detector": d}})
    ingest = {"dataset_type": "bob_notes", "run": run, "files": files}
    # Paths must stay under the datastore root; a read token may not write.
    status, body = call(base, "POST", "/api/v1/ingest", tokens["bob"],
                        {**ingest, "files": [{**files[0], "path": "../../etc/passwd"}]})
    assert status == 400 and "datastore root" in body["error"]
    assert call(base, "POST", "/api/v1/ingest", tokens["carol-read"], ingest)[0] == 403
    status, made = call(base, "POST", "/api/v1/ingest", tokens["bob"], ingest)
    assert status == 200 and len(made) == 3 and {m["run"] for m in made} == {run}
    status, _, text = raw_get(base, f"/api/v1/datasets/{made[1]['id']}/file")
    assert json.loads(text) == {"detector": 1}
    # Another user's RUN is not bob's to remove.
    status, body = call(base, "POST", "/api/v1/remove-runs", tokens["carol-read"], {"names": [run]})
    assert status == 403
    status, pruned = call(base, "POST", "/api/v1/prune-datasets", tokens["bob"],
                          {"ids": [made[0]["id"]], "purge": run})
    assert status == 200 and pruned["purged"] == 1
    valet("export", repo, str(tmp_path / "out"), "--collections", run, "-t", "copy", user="bob")
    export = (tmp_path / "out" / "export.yaml").read_text()
    status, removed = call(base, "POST", "/api/v1/remove-runs", tokens["bob"], {"names": [run]})
    assert status == 200 and removed["datasets"] == 2
    # Back again from the exported files, copied under the datastore root.
    import shutil
    shutil.copytree(tmp_path / "out", os.path.join(repo, "u", "bob", "restore"))
    req = urllib.request.Request(base + "/api/v1/import?directory=u/bob/restore", data=export.encode(),
                                 method="POST")
    req.add_header("Authorization", f"Bearer {tokens['bob']}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            summary = json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise AssertionError(e.read().decode()) from None
    assert summary["datasets"] == 2 and summary["files"] == 2
    status, text = call(base, "POST", "/api/v1/query-datasets", None,
                        {"dataset_types": ["bob_notes"], "collections": [run]})
    assert sorted(json.loads(x)["id"] for x in text.splitlines()) == sorted(m["id"] for m in made[1:])


def test_streams_per_user_are_bounded(server):
    base, repo, tokens = server
    valet("register-dataset-type", repo, "big_blob", "StructuredDataDict", "instrument")
    os.makedirs(os.path.join(repo, "u", "carol"), exist_ok=True)
    with open(os.path.join(repo, "u", "carol", "big.json"), "wb") as f:
        f.write(b"[" + b"0," * (32 << 20) + b"0]")
    status, made = call(base, "POST", "/api/v1/ingest", tokens["alice-admin"],
                        {"dataset_type": "big_blob", "run": "u/alice/big",
                         "files": [{"path": "u/carol/big.json", "data_id": {"instrument": "LSSTCam-imSim"}}]})
    assert status == 200, made
    path = f"/api/v1/datasets/{made[0]['id']}/file"
    held = []
    for _ in range(4):
        req = urllib.request.Request(base + path)
        req.add_header("Authorization", f"Bearer {tokens['carol-read']}")
        held.append(urllib.request.urlopen(req, timeout=30))
    status, _, body = raw_get(base, path, tokens["carol-read"])
    assert status == 429 and "carol" in json.loads(body)["error"]
    # Another user is not held back by carol's streams.
    assert raw_get(base, path, tokens["bob"], headers=[("Range", "bytes=0-0")])[0] == 206
    for r in held:
        r.close()
    import time
    for _ in range(100):
        status = raw_get(base, path, tokens["carol-read"], headers=[("Range", "bytes=0-9")])[0]
        if status == 206:
            break
        time.sleep(0.05)
    assert status == 206


def run_valet(*args: str, user: str = ADMIN, token: str | None = None):
    env = {**os.environ, "VALET_USER": user}
    env.pop("VALET_TOKEN", None)
    if token:
        env["VALET_TOKEN"] = token
    return subprocess.run([str(VALET), *args], capture_output=True, text=True, env=env)


def test_cli_against_the_server_prints_as_local(server):
    """`valet --server URL CMD …` (and a URL as REPO) prints exactly what the local
    command prints, errors and exit codes included."""
    base, repo, tokens = server
    commands = [
        ["query-collections"],
        ["query-collections", "--chains", "table", "--format", "json"],
        ["query-collections", "LSSTCam-imSim/*", "--chains", "inverse-tree"],
        ["query-dataset-types", "-v"],
        ["query-dataset-types", "--format", "csv"],
        ["query-datasets", "calexp", "--collections", CHAIN, "--limit", "7", "--order-by", "-visit"],
        ["query-datasets", "calexp", "raw", "--collections", "*", "--format", "json", "--limit", "0"],
        ["query-datasets", "calexp", "--collections", CHAIN, "--where", "band = 'r'", "--format", "csv"],
        ["query-datasets", "nosuch", "--collections", CHAIN],
        ["query-datasets", "calexp", "--collections", CHAIN, "--where", "visit ="],
        ["find-dataset", "calexp", "-c", CHAIN, "-d", "instrument=LSSTCam-imSim,visit=2,detector=3"],
        ["find-dataset", "calexp", "-c", CHAIN, "-d", "instrument=LSSTCam-imSim,visit=2,detector=3,band=u"],
        ["query-data-ids", "visit", "detector", "--datasets", "calexp", "--collections", CHAIN, "--limit", "9"],
        ["query-dimension-records", "visit", "--limit", "4"],
        ["query-dimension-records", "detector", "--where", "detector > 185", "--format", "json"],
        ["chain-history", CHAIN],
        ["lineage", "00000000-0000-0000-0000-000000000000", "--up"],
    ]
    for args in commands:
        local = run_valet(args[0], repo, *args[1:])
        remote = run_valet("--server", base, *args)
        assert (remote.returncode, remote.stdout, remote.stderr) == (
            local.returncode, local.stdout, local.stderr), args
        as_repo = run_valet(args[0], base, *args[1:])
        assert (as_repo.returncode, as_repo.stdout) == (local.returncode, local.stdout), args
    some = json.loads(run_valet("query-datasets", repo, "calexp", "--collections", CHAIN, "--format", "json",
                                "--limit", "1").stdout)[0]["id"]
    for fmt in ("json", "dot"):
        local = run_valet("lineage", repo, some, "--down", "--format", fmt)
        remote = run_valet("--server", base, "lineage", some, "--down", "--format", fmt)
        assert (remote.returncode, remote.stdout) == (local.returncode, local.stdout) and local.stdout, fmt
    # Files come over HTTP into the same layout, with the same report.
    for extra in ([], ["--no-preserve-path"]):
        trees = []
        for where, dest in ((repo, "local"), (base, "remote")):
            out = os.path.join(os.path.dirname(repo), f"retrieved-{dest}-{len(extra)}")
            done = run_valet("retrieve-artifacts", where, out, "-d", "calexp", "--collections", CHAIN,
                             "--where", "visit < 3", "-v", *extra)
            assert done.returncode == 0, done.stderr
            files = {}
            for root, _, names in os.walk(out):
                for n in names:
                    full = os.path.join(root, n)
                    files[os.path.relpath(full, out)] = open(full, "rb").read()
            trees.append((done.stdout.replace(out, "DEST"), files))
        assert trees[0] == trees[1] and trees[0][1], extra
    done = run_valet("retrieve-artifacts", base, "/tmp/never", "-d", "calexp", "-t", "symlink")
    assert done.returncode == 1 and "can only be copied" in done.stderr and not os.path.exists("/tmp/never")
    done = run_valet("retrieve-artifacts", base, "/tmp/never.zip", "-d", "calexp", "--zip")
    assert done.returncode == 1 and "local repository only" in done.stderr
    # Writes act as the token's user, under the same rules.
    chain = "u/bob/remote-chain"
    done = run_valet("--server", base, "register-collection", chain, "--collection-type", "CHAINED",
                     token=tokens["bob"])
    assert done.returncode == 0, done.stderr
    done = run_valet("--server", base, "collection-chain", chain, CHAIN, token=tokens["bob"])
    assert done.returncode == 0 and done.stdout.strip() == f"[{CHAIN}]", done.stderr
    done = run_valet("--server", base, "collection-chain", "shared/remote", CHAIN, token=tokens["bob"])
    assert done.returncode == 1 and "rule: shared-needs-admin" in done.stderr
    done = run_valet("--server", base, "register-collection", "u/carol/x", token=tokens["carol-read"])
    assert done.returncode == 1 and "rule: token-scope" in done.stderr
    history = run_valet("chain-history", repo, chain, "--format", "json")
    assert [e["edited_by"] for e in json.loads(history.stdout)] == ["bob"]
    # Commands that cannot run remotely say so; a bad URL is one line.
    done = run_valet("export", base, "/tmp/nowhere")
    assert done.returncode == 2 and "runs on a local repository only" in done.stderr
    done = run_valet("--server", "http://127.0.0.1:9", "query-collections")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1


def test_python_butler_on_a_server(server, monkeypatch):
    """`Butler("http://…")` answers as the local Butler does, acting as its token's
    user; calls a server does not answer yet say so."""
    from valet import Butler, MissingDatasetTypeError

    base, repo, tokens = server
    monkeypatch.setenv("VALET_TOKEN", tokens["bob"])
    local = Butler(repo, collections=[CHAIN])
    remote = Butler(base, collections=[CHAIN])
    key = lambda refs: sorted((str(r.id), r.run, tuple(sorted(r.dataId.required.items()))) for r in refs)
    for kwargs in [{}, {"where": "visit = 2"}, {"where": "band = b", "bind": {"b": "r"}}]:
        want = local.query_datasets("calexp", limit=None, **kwargs)
        got = remote.query_datasets("calexp", limit=None, **kwargs)
        assert key(got) == key(want) and want, kwargs
    some = want[0]
    assert remote.find_dataset("calexp", some.dataId.required) == local.find_dataset("calexp", some.dataId.required)
    assert remote.get_dataset_type("calexp").dimensions.names == local.get_dataset_type("calexp").dimensions.names
    with pytest.raises(MissingDatasetTypeError):
        remote.get_dataset_type("nosuch")
    assert sorted(remote.collections.query("*")) == sorted(local.collections.query("*"))
    assert [dict(d.required) for d in remote.query_data_ids(["visit"], limit=None)] == [
        dict(d.required) for d in local.query_data_ids(["visit"], limit=None)
    ]
    assert [r.id for r in remote.query_dimension_records("detector", limit=None)] == [
        r.id for r in local.query_dimension_records("detector", limit=None)
    ]
    # Writes act as the token's user.
    writer = Butler(base, run="u/bob/python-run")
    assert writer.registry.getCollectionType("u/bob/python-run").name == "RUN"
    assert "u/bob/python-run" in local.collections.query("u/bob/*")
    with pytest.raises(Exception, match="needs a local repository"):
        remote.getURI(some)
    # Objects of the general-purpose formatters come over HTTP.
    valet("register-dataset-type", repo, "py_notes", "StructuredDataDict", "instrument")
    monkeypatch.setenv("VALET_USER", "bob")
    stored = Butler(repo, run="u/bob/py-notes").put({"a": [1, 2]}, "py_notes", instrument="LSSTCam-imSim")
    assert remote.get(stored) == {"a": [1, 2]} == local.get(stored)
    assert remote.get("py_notes", instrument="LSSTCam-imSim", collections="u/bob/py-notes") == {"a": [1, 2]}


def test_cli_writes_against_the_server(server):
    """Dataset types, TAGGED and CALIBRATION writes through `valet --server`, as the
    token's user, under the access rules, with the local command's output."""
    base, repo, tokens = server
    remote = lambda *a, token=tokens["bob"]: run_valet("--server", base, *a, token=token)
    done = remote("register-dataset-type", "bob_thing", "StructuredDataDict", "instrument")
    assert done.returncode == 1 and "admin" in done.stderr
    done = remote("register-dataset-type", "alice_thing", "StructuredDataDict", "instrument",
                  token=tokens["alice-admin"])
    assert done.returncode == 0, done.stderr
    assert "alice_thing" in run_valet("query-dataset-types", repo).stdout
    done = remote("remove-dataset-type", "alice_thing", token=tokens["alice-admin"])
    assert done.returncode == 0 and "alice_thing" not in run_valet("query-dataset-types", repo).stdout
    assert remote("register-collection", "u/bob/tag").returncode == 0
    done = remote("associate", "u/bob/tag", "--collections", CHAIN, "--where", "visit = 2", "-d", "calexp",
                  "--find-first")
    local = run_valet("query-datasets", repo, "calexp", "--collections", CHAIN, "--where", "visit = 2",
                      "--find-first", "--format", "json", "--limit", "0")
    n = len(json.loads(local.stdout))
    assert done.returncode == 0 and done.stdout.strip() == f"associated {n} dataset(s) with u/bob/tag", done.stderr
    tagged = run_valet("query-datasets", repo, "calexp", "--collections", "u/bob/tag", "--format", "json",
                       "--limit", "0")
    assert sorted(d["id"] for d in json.loads(tagged.stdout)) == sorted(d["id"] for d in json.loads(local.stdout))
    calib_run = "LSSTCam-imSim/calib/DM-30694/20210601"
    done = remote("certify-calibrations", calib_run, "u/bob/calib", "bias", "--begin-date", "2022-01-01T00:00:00")
    assert done.returncode == 0 and done.stdout.startswith("certified "), done.stderr
    certified = int(done.stdout.split()[1])
    assert certified > 0
    done = remote("decertify-calibrations", "u/bob/calib", "bias", "--begin-date", "2022-06-01T00:00:00")
    assert done.returncode == 0 and done.stdout.strip() == f"{certified} validity range(s) changed", done.stderr
    done = remote("certify-calibrations", calib_run, "shared/calib", "bias")
    assert done.returncode == 1 and "rule:" in done.stderr
    # Removals: the confirmation lists what a server holds; the rules still apply.
    assert remote("register-collection", "u/bob/scratch", "--collection-type", "RUN").returncode == 0
    local = run_valet("remove-runs", repo, "u/bob/nothing*", "--no-confirm")
    done = remote("remove-runs", "u/bob/nothing*", "--no-confirm")
    assert (done.returncode, done.stdout, done.stderr) == (local.returncode, local.stdout, local.stderr)
    done = remote("remove-runs", "u/bob/scratch", "--no-confirm")
    assert done.returncode == 0 and done.stdout.strip() == "removed 1 run(s), 0 dataset(s) and 0 file(s)", done.stderr
    done = remote("remove-collections", "u/bob/tag", "--no-confirm")
    assert done.returncode == 0 and done.stdout.strip() == "removed 1 collection(s)", done.stderr
    assert "u/bob/tag" not in run_valet("query-collections", repo, "u/bob/*").stdout
    done = remote("remove-runs", calib_run, "--no-confirm")
    assert done.returncode == 1 and "rule:" in done.stderr
    # Prunes: memberships of bob's TAGGED collection go; a shared RUN's datasets stay.
    assert remote("register-collection", "u/bob/tag2").returncode == 0
    done = remote("associate", "u/bob/tag2", "--collections", CHAIN, "--where", "visit = 3", "-d", "calexp",
                  "--find-first")
    assert done.returncode == 0, done.stderr
    n = int(done.stdout.split()[1])
    done = remote("prune-datasets", CHAIN, "--datasets", "calexp", "--where", "visit = 3",
                  "--disassociate", "u/bob/tag2", "--no-confirm")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pruned {n} dataset(s): 0 purged, {n} membership(s) removed, 0 file(s) deleted"
    some_run = json.loads(run_valet("query-datasets", repo, "calexp", "--collections", CHAIN, "--where",
                                    "visit = 3", "--format", "json", "--limit", "1").stdout)[0]["run"]
    done = remote("prune-datasets", some_run, "--datasets", "calexp", "--purge", some_run, "--no-confirm")
    assert done.returncode == 1 and "rule:" in done.stderr


def ingest_notes(repo, folder, dataset_type, run, count):
    """Register `dataset_type` (JSON, by detector) and ingest `count` small files of it
    into bob's `run`, locally."""
    valet("register-dataset-type", repo, dataset_type, "StructuredDataDict", "instrument", "detector")
    rows = ["file,instrument,detector"]
    for d in range(count):
        path = folder / f"{dataset_type}{d}.json"
        path.write_text(json.dumps({"d": d}))
        rows.append(f"{path},LSSTCam-imSim,{d}")
    (folder / "table.csv").write_text("\n".join(rows) + "\n")
    done = run_valet("ingest-files", repo, dataset_type, run, str(folder / "table.csv"), user="bob")
    assert done.returncode == 0, done.stderr


def test_ingest_zip_through_the_server(server, tmp_path):
    """A zip that retrieve-artifacts --zip wrote goes back in through the server, as
    the token's user: the same datasets, ids included."""
    base, repo, tokens = server
    run = "u/bob/zipped"
    ingest_notes(repo, tmp_path, "zip_notes", run, 3)
    listing = lambda: sorted(
        d["id"] for d in json.loads(run_valet("query-datasets", repo, "zip_notes", "--collections", run,
                                              "--format", "json", "--limit", "0").stdout or "[]"))
    before = listing()
    assert len(before) == 3
    zipped = tmp_path / "out"
    done = run_valet("retrieve-artifacts", base, str(zipped), "-d", "zip_notes", "--collections", run, "--zip")
    assert done.returncode == 1  # --zip runs locally only
    done = run_valet("retrieve-artifacts", repo, str(zipped), "-d", "zip_notes", "--collections", run, "--zip")
    assert done.returncode == 0, done.stderr
    zip_file = next(zipped.glob("*.zip"))
    assert run_valet("--server", base, "remove-runs", run, "--no-confirm", token=tokens["bob"]).returncode == 0
    assert listing() == []
    done = run_valet("--server", base, "ingest-zip", str(zip_file), "--dry-run", token=tokens["bob"])
    assert done.returncode == 0 and done.stdout.startswith("would ingest 3 dataset(s), 3 file(s) into 1 RUN(s)")
    assert listing() == []
    done = run_valet("--server", base, "ingest-zip", str(zip_file), token=tokens["carol-read"])
    assert done.returncode == 1 and "rule: token-scope" in done.stderr
    done = run_valet("--server", base, "ingest-zip", str(zip_file), token=tokens["bob"])
    assert done.returncode == 0 and done.stdout.startswith("ingested 3 dataset(s), 3 file(s) into 1 RUN(s)"), done.stderr
    assert listing() == before


def test_import_through_the_server(server, tmp_path):
    """`valet --server URL import DIR` sends the export and its files up; they are
    imported there, files copied into the datastore, as the token's user."""
    base, repo, tokens = server
    run = "u/bob/imported"
    ingest_notes(repo, tmp_path, "imp_notes", run, 2)
    out = tmp_path / "export"
    assert run_valet("export", repo, str(out), "-c", run, "-d", "imp_notes", "-t", "copy", user="bob").returncode == 0
    listing = lambda: json.loads(run_valet("query-datasets", repo, "imp_notes", "--collections", run,
                                           "--format", "json", "--limit", "0", "--show-uri").stdout or "[]")
    before = sorted(d["id"] for d in listing())
    assert run_valet("--server", base, "remove-runs", run, "--no-confirm", token=tokens["bob"]).returncode == 0
    done = run_valet("--server", base, "import", str(out), "-t", "symlink", token=tokens["bob"])
    assert done.returncode == 1 and "copied" in done.stderr and listing() == []
    done = run_valet("--server", base, "import", str(out), token=tokens["bob"])
    assert done.returncode == 0, done.stderr
    assert "imported 2 dataset(s), 2 file(s)" in done.stderr + done.stdout
    after = listing()
    assert sorted(d["id"] for d in after) == before
    for d in after:
        path = d["URI"].removeprefix("file://")
        assert path.startswith(repo) and json.loads(open(path).read()) in ({"d": 0}, {"d": 1})


def test_ingest_files_through_the_server(server, tmp_path):
    """`valet --server URL ingest-files …` sends the table's files up; they are
    ingested there as the token's user, copied into the datastore, with the data IDs
    the table gives (relative names under --prefix)."""
    base, repo, tokens = server
    run = "u/bob/sent"
    valet("register-dataset-type", repo, "sent_notes", "StructuredDataDict", "instrument", "detector")
    (tmp_path / "notes").mkdir()
    rows = ["file,detector"]
    for d in range(3):
        (tmp_path / "notes" / f"n{d}.json").write_text(json.dumps({"d": d}))
        rows.append(f"notes/n{d}.json,{d}")
    table = tmp_path / "table.csv"
    table.write_text("\n".join(rows) + "\n")
    args = ["ingest-files", "sent_notes", run, str(table), "--data-id", "instrument=LSSTCam-imSim",
            "--prefix", str(tmp_path)]
    listing = lambda: json.loads(run_valet("query-datasets", repo, "sent_notes", "--collections", run,
                                           "--format", "json", "--limit", "0", "--show-uri").stdout or "[]")
    done = run_valet("--server", base, *args, token=tokens["carol-read"])
    assert done.returncode == 1 and "rule: token-scope" in done.stderr
    done = run_valet("--server", base, *args, "-t", "symlink", token=tokens["bob"])
    assert done.returncode == 1 and "copied" in done.stderr and listing() == []
    done = run_valet("--server", base, *args, token=tokens["bob"])
    assert done.returncode == 0, done.stderr
    assert f"ingested 3 file(s) into {run}" in done.stderr + done.stdout
    found = listing()
    assert sorted(d["detector"] for d in found) == [0, 1, 2]
    for d in found:
        path = d["URI"].removeprefix("file://")
        assert path.startswith(repo) and json.loads(open(path).read()) == {"d": d["detector"]}
    # Another user's RUN is refused by the access rules, and nothing is left behind.
    done = run_valet("--server", base, *args[:2], "u/alice/sent", *args[3:], token=tokens["bob"])
    assert done.returncode == 1 and "rule:" in done.stderr
    assert json.loads(run_valet("query-datasets", repo, "sent_notes", "--collections", "u/alice/sent",
                                "--format", "json", "--limit", "0").stdout or "[]") == []


def test_a_stalled_stream_is_cut_and_frees_its_slot(tmp_path):
    """A client that stops reading a streamed answer holds its database connection
    only until --stall-timeout: the answer is then cut (the client sees a broken
    body, never a short one that looks whole) and the user's stream permit comes
    back. The mechanism is the server's alone, so SQLite serves here."""
    import socket

    repo = str(tmp_path / "repo")
    valet("create", repo)
    valet("generate-sample", str(tmp_path / "sample"), "--visits", "60")
    valet("import", repo, str(tmp_path / "sample"), "--registry-only")
    token = valet("token", "create", repo, "bob").strip().splitlines()[-1]
    proc = subprocess.Popen(
        [str(VALET), "serve", repo, "--listen", "127.0.0.1:0", "--stall-timeout", "1",
         "--max-streams-per-user", "1"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "VALET_USER": ADMIN},
    )
    try:
        line = proc.stderr.readline()
        base = line.strip().split("listening on ")[1]
        host, port = base.removeprefix("http://").split(":")
        body = json.dumps({"dataset_types": [], "collections": ["*"], "find_first": False}).encode()
        request = (
            f"POST /api/v1/query-datasets HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect((host, int(port)))
        stalled.sendall(request)
        # Bob's one permit is taken while the stream runs...
        time.sleep(0.3)
        status, _ = call(base, "POST", "/api/v1/query-datasets", token,
                         {"dataset_types": ["calexp"], "collections": ["*"], "find_first": False})
        assert status == 429
        # ...and given back once the stalled answer is cut.
        time.sleep(3)
        status, text = call(base, "POST", "/api/v1/query-datasets", token,
                            {"dataset_types": ["bias"], "collections": ["*"], "find_first": False})
        assert status == 200 and text
        received = b""
        stalled.settimeout(10)
        try:
            while chunk := stalled.recv(1 << 16):
                received += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        assert received.startswith(b"HTTP/1.1 200")
        assert not received.endswith(b"0\r\n\r\n"), "a cut answer must not end as a whole one"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "cut short: " in err and "took no data for 1 s" in err
