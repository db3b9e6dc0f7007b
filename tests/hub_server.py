"""A small in-memory Hugging Face Hub for upload tests, on 127.0.0.1 and a free port.

It answers the calls that `HfApi.create_repo`, `HfApi.upload_file` and
`DatasetDict.push_to_hub` make through huggingface_hub's LFS transfer path
(HF_HUB_DISABLE_XET=1: Xet needs a CAS server, out of scope here):

    GET  /api/whoami-v2                                      who the token belongs to
    POST /api/repos/create                                   create a repo (409 if it exists)
    GET  /api/datasets/{repo}[/revision/{rev}]               repo info (sha, private, siblings)
    POST /api/validate-yaml                                  README metadata check
    POST /api/datasets/{repo}/preupload/{rev}                upload mode per file (lfs / regular)
    POST /datasets/{repo}.git/info/lfs/objects/batch         LFS batch: where to PUT each object
    PUT  /lfs/objects/{oid}                                  LFS object upload (sha256 checked)
    POST /lfs/verify                                         LFS verify
    POST /api/datasets/{repo}/commit/{rev}                   NDJSON commit: header, file, lfsFile, deletedFile/Folder
    GET  /api/datasets/{repo}/tree/{rev}[/{path}]            list files (HfFileSystem)
    POST /api/datasets/{repo}/paths-info/{rev}               file info (HfFileSystem)
    GET|HEAD /datasets/{repo}/resolve/{rev}/{path}           file content, with Range

Each commit makes a snapshot, so a parent-commit check (412) and reads at a commit sha
work as on the Hub. Every request is logged (method, path, status, auth header) and
anything unhandled is answered 404 and listed in `unhandled`, so a test can tell when
huggingface_hub starts calling something new.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_SUFFIXES = (".parquet", ".arrow", ".bin", ".safetensors", ".gguf", ".zip")
REGULAR_LIMIT = 10 * 1024 * 1024


@dataclass
class StoredFile:
    content: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def git_oid(self) -> str:
        header = f"blob {len(self.content)}\0".encode()
        return hashlib.sha1(header + self.content).hexdigest()


@dataclass
class Repo:
    repo_id: str
    private: bool
    commits: list[str] = field(default_factory=list)
    snapshots: dict[str, dict[str, StoredFile]] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    @property
    def head(self) -> str:
        return self.commits[-1]

    def files_at(self, revision: str) -> dict[str, StoredFile] | None:
        return self.snapshots.get(self.head if revision == "main" else revision)


@dataclass
class LoggedRequest:
    method: str
    path: str
    status: int
    authorization: str | None
    body: bytes


class FakeHub:
    """State of the fake Hub plus the HTTP server thread that serves it."""

    def __init__(self, user: str = "tester", token: str | None = None) -> None:
        self.user = user
        self.token = token  # when set, requests to /api and the LFS batch need "Bearer <token>"
        self.repos: dict[str, Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[LoggedRequest] = []
        self.unhandled: list[str] = []
        self.forbidden_repos: set[str] = set()
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- life cycle --

    def start(self) -> FakeHub:
        hub = self

        class Handler(HubHandler):
            fake = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-hub", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    @property
    def endpoint(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # -- helpers for tests --

    def files(self, repo_id: str) -> dict[str, bytes]:
        """Path -> content of the repo's main branch."""
        repo = self.repos[repo_id]
        return {path: stored.content for path, stored in repo.files_at("main").items()}

    def received_bodies(self) -> list[bytes]:
        return [request.body for request in self.requests] + list(self.lfs_objects.values())

    # -- repo operations --

    def create_repo(self, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_id=repo_id, private=private)
        initial = {".gitattributes": StoredFile(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", lfs=False)}
        self._add_commit(repo, initial, "initial commit")
        self.repos[repo_id] = repo
        return repo

    def _add_commit(self, repo: Repo, files: dict[str, StoredFile], message: str) -> str:
        sha = hashlib.sha1(f"{repo.repo_id}:{len(repo.commits)}:{message}".encode()).hexdigest()
        repo.commits.append(sha)
        repo.snapshots[sha] = files
        repo.messages.append(message)
        return sha


class HubHandler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output quiet
        pass

    # -- plumbing --

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        self._status = 0
        with self.fake.lock:
            try:
                self._route(method, path, query, body)
            except Exception as error:  # a bug in the fake: show it to the client
                self._json(500, {"error": f"fake hub error: {error!r}"})
            self.fake.requests.append(LoggedRequest(method, parts.path, self._status, self.headers.get("Authorization"), body))

    def _read_body(self) -> bytes:
        """The request body, whether sent with Content-Length or chunked (httpx streams file uploads)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes = b"", content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers=headers)

    def _authorised(self) -> bool:
        if self.fake.token is None:
            return True
        if self.headers.get("Authorization") == f"Bearer {self.fake.token}":
            return True
        self._error(401, "Invalid credentials in Authorization header")
        return False

    # -- routing --

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        fake = self.fake
        if method == "PUT" and (match := re.fullmatch(r"/lfs/objects/([0-9a-f]{64})", path)):
            return self._lfs_put(match.group(1), body)
        if method == "POST" and path == "/lfs/verify":
            oid = json.loads(body)["oid"]
            return self._json(200, {}) if oid in fake.lfs_objects else self._error(404, "object not uploaded")
        if method in ("GET", "HEAD") and (match := re.fullmatch(r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)):
            return self._resolve(match.group(1), match.group(2), match.group(3))
        if not self._authorised():
            return None
        if method == "GET" and path == "/api/whoami-v2":
            return self._json(200, {"type": "user", "name": fake.user, "auth": {"accessToken": {"role": "write"}}})
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo(json.loads(body))
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body))
        if method == "POST" and (match := re.fullmatch(r"/datasets/([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)):
            return self._lfs_batch(match.group(1), json.loads(body))
        if match := re.fullmatch(r"/api/datasets/([^/]+/[^/]+)(?:/(revision|preupload|commit|tree|paths-info)/([^/]+)(/.*)?)?", path):
            repo_id, action, revision, rest = match.groups()
            repo = fake.repos.get(repo_id)
            if repo is None:
                return self._error(404, "Repository not found", "RepoNotFound")
            if repo_id in fake.forbidden_repos and method == "POST":
                return self._error(403, f"You don't have the rights to write to {repo_id}; your request had {self.headers.get('Authorization')}")
            if action is None or action == "revision":
                return self._repo_info(repo, revision or "main")
            if repo.files_at(revision) is None:
                return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if action == "preupload" and method == "POST":
                return self._preupload(repo, revision, json.loads(body))
            if action == "commit" and method == "POST":
                return self._commit(repo, revision, body)
            if action == "tree" and method == "GET":
                return self._tree(repo, revision, (rest or "").strip("/"), query.get("recursive", ["false"])[0].lower() == "true")
            if action == "paths-info" and method == "POST":
                return self._paths_info(repo, revision, parse_qs(body.decode()).get("paths", []))
        fake.unhandled.append(f"{method} {path}")
        return self._error(404, f"fake hub does not implement {method} {path}")

    # -- endpoints --

    def _create_repo(self, payload: dict[str, Any]) -> None:
        if payload.get("type") != "dataset":
            return self._error(400, "this fake hub only hosts datasets")
        repo_id = f"{payload.get('organization') or self.fake.user}/{payload['name']}"
        url = f"{self.fake.endpoint}/datasets/{repo_id}"
        if repo_id in self.fake.repos:
            return self._json(409, {"error": "You already created this dataset repo", "url": url}, headers={"X-Error-Message": "You already created this dataset repo"})
        self.fake.create_repo(repo_id, private=payload.get("visibility") == "private")
        return self._json(200, {"url": url, "name": repo_id})

    def _repo_info(self, repo: Repo, revision: str) -> None:
        files = repo.files_at(revision)
        if files is None:
            return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        sha = repo.head if revision == "main" else revision
        return self._json(200, {"id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": sha, "private": repo.private, "siblings": [{"rfilename": path} for path in sorted(files)]})

    def _validate_yaml(self, payload: dict[str, Any]) -> None:
        content = payload.get("content", "")
        match = re.match(r"^---\n(.*?)\n---", content, re.DOTALL)
        if match:
            try:
                metadata = yaml.safe_load(match.group(1))
            except yaml.YAMLError as error:
                return self._json(400, {"errors": [{"message": f"invalid YAML: {error}"}]})
            if not isinstance(metadata, dict):
                return self._json(400, {"errors": [{"message": "metadata must be a mapping"}]})
        return self._json(200, {"errors": [], "warnings": []})

    def _preupload(self, repo: Repo, revision: str, payload: dict[str, Any]) -> None:
        files = repo.files_at(revision) or {}
        answer = []
        for item in payload["files"]:
            sample = base64.b64decode(item["sample"])
            lfs = item["path"].endswith(LFS_SUFFIXES) or item["size"] > REGULAR_LIMIT or b"\0" in sample
            existing = files.get(item["path"])
            oid = None if existing is None else (existing.sha256 if existing.lfs else existing.git_oid)
            answer.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return self._json(200, {"files": answer, "commitOid": repo.head})

    def _lfs_batch(self, repo_id: str, payload: dict[str, Any]) -> None:
        if repo_id not in self.fake.repos:
            return self._error(404, "Repository not found", "RepoNotFound")
        objects = []
        for item in payload["objects"]:
            entry: dict[str, Any] = {"oid": item["oid"], "size": item["size"]}
            if item["oid"] not in self.fake.lfs_objects:
                entry["actions"] = {
                    "upload": {"href": f"{self.fake.endpoint}/lfs/objects/{item['oid']}", "header": {}},
                    "verify": {"href": f"{self.fake.endpoint}/lfs/verify", "header": {}},
                }
            objects.append(entry)
        return self._json(200, {"transfer": "basic", "objects": objects})

    def _lfs_put(self, oid: str, body: bytes) -> None:
        if hashlib.sha256(body).hexdigest() != oid:
            return self._error(400, "sha256 does not match the object id")
        self.fake.lfs_objects[oid] = body
        return self._send(200, b"")

    def _commit(self, repo: Repo, revision: str, body: bytes) -> None:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            return self._error(400, "commit payload must start with a header line")
        header = lines[0]["value"]
        base = repo.head if revision == "main" else revision
        if header.get("parentCommit") and header["parentCommit"] != repo.head:
            return self._error(412, "A commit has happened since. Please refresh and try again.")
        files = dict(repo.snapshots[base])
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = StoredFile(base64.b64decode(value["content"]), lfs=False)
            elif key == "lfsFile":
                content = self.fake.lfs_objects.get(value["oid"])
                if content is None:
                    return self._error(400, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = StoredFile(content, lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    return self._error(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                for path in [path for path in files if path.startswith(prefix)]:
                    del files[path]
            else:
                return self._error(400, f"unknown commit operation {key!r}")
        sha = self.fake._add_commit(repo, files, header.get("summary", ""))
        return self._json(200, {"commitUrl": f"{self.fake.endpoint}/datasets/{repo.repo_id}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None})

    def _entry(self, path: str, stored: StoredFile | None) -> dict[str, Any]:
        if stored is None:
            return {"type": "directory", "path": path, "oid": hashlib.sha1(path.encode()).hexdigest()}
        entry: dict[str, Any] = {"type": "file", "path": path, "size": len(stored.content), "oid": stored.git_oid}
        if stored.lfs:
            entry["lfs"] = {"oid": stored.sha256, "size": len(stored.content), "pointerSize": 130}
        return entry

    def _listing(self, files: dict[str, StoredFile], folder: str, recursive: bool) -> list[dict[str, Any]] | None:
        prefix = f"{folder}/" if folder else ""
        entries: dict[str, dict[str, Any]] = {}
        for path, stored in files.items():
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            for depth in range(1, len(parts)):
                directory = prefix + "/".join(parts[:depth])
                if recursive or depth == 1:
                    entries.setdefault(directory, self._entry(directory, None))
            if recursive or len(parts) == 1:
                entries[path] = self._entry(path, stored)
        if folder and not entries:
            return None
        return [entries[path] for path in sorted(entries)]

    def _tree(self, repo: Repo, revision: str, folder: str, recursive: bool) -> None:
        listing = self._listing(repo.files_at(revision) or {}, folder, recursive)
        if listing is None:
            return self._error(404, f"{folder} does not exist on {revision}", "EntryNotFound")
        return self._json(200, listing)

    def _paths_info(self, repo: Repo, revision: str, paths: list[str]) -> None:
        files = repo.files_at(revision) or {}
        out = []
        for path in paths:
            path = path.strip("/")
            if path in files:
                out.append(self._entry(path, files[path]))
            elif any(name.startswith(path + "/") for name in files):
                out.append(self._entry(path, None))
        return self._json(200, out)

    def _resolve(self, repo_id: str, revision: str, path: str) -> None:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            return self._error(404, "Repository not found", "RepoNotFound")
        files = repo.files_at(revision)
        if files is None:
            return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        stored = files.get(path)
        if stored is None:
            return self._error(404, "Entry not found", "EntryNotFound")
        content, status = stored.content, 200
        headers = {"ETag": f'"{stored.sha256 if stored.lfs else stored.git_oid}"', "X-Repo-Commit": repo.head if revision == "main" else revision, "Accept-Ranges": "bytes"}
        if match := re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or ""):
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else len(content) - 1
            headers["Content-Range"] = f"bytes {start}-{min(end, len(content) - 1)}/{len(content)}"
            content, status = content[start : end + 1], 206
        return self._send(status, content, content_type="application/octet-stream", headers=headers)
