"""The fake Hub of `tests/hub_server.py`, also hosting model repositories (for `push_model`).

huggingface_hub addresses a model repository without the `datasets/` prefix a dataset gets:

    POST /api/repos/create                     {"type": "model", ...}
    GET  /api/models/{repo}[/revision/{rev}]   repo info
    POST /api/models/{repo}/preupload/{rev}    upload modes
    POST /api/models/{repo}/commit/{rev}       NDJSON commit
    POST /{repo}.git/info/lfs/objects/batch    LFS batch
    GET  /{repo}/resolve/{rev}/{path}          file content

Models and datasets are stored alike, so each model route is rewritten to its dataset twin and
served by the dataset handler; `model_repos` records which repositories were created as models.
"""

from __future__ import annotations

import re
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from tests.hub_server import FakeHub, HubHandler

_MODEL_ROUTES = [
    (re.compile(r"^/api/models/(.+)$"), r"/api/datasets/\1"),
    (re.compile(r"^/(?!api/|datasets/|lfs/)([^/]+/[^/]+)\.git/info/lfs/objects/batch$"), r"/datasets/\1.git/info/lfs/objects/batch"),
    (re.compile(r"^/(?!api/|datasets/|lfs/)([^/]+/[^/]+)/resolve/(.+)$"), r"/datasets/\1/resolve/\2"),
]


class FakeModelHub(FakeHub):
    """A FakeHub whose server also answers model-repository requests."""

    def __init__(self, user: str = "tester", token: str | None = None) -> None:
        super().__init__(user=user, token=token)
        self.model_repos: set[str] = set()

    def start(self) -> FakeModelHub:
        hub = self

        class Handler(ModelHubHandler):
            fake = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-model-hub", daemon=True)
        self.thread.start()
        return self


class ModelHubHandler(HubHandler):
    fake: FakeModelHub

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        for pattern, replacement in _MODEL_ROUTES:
            if pattern.match(path):
                path = pattern.sub(replacement, path)
                break
        return super()._route(method, path, query, body)

    def _create_repo(self, payload: dict[str, Any]) -> None:
        if payload.get("type") not in (None, "model"):
            return super()._create_repo(payload)
        repo_id = f"{payload.get('organization') or self.fake.user}/{payload['name']}"
        url = f"{self.fake.endpoint}/{repo_id}"
        if repo_id in self.fake.repos:
            return self._json(409, {"error": "You already created this model repo", "url": url}, headers={"X-Error-Message": "You already created this model repo"})
        self.fake.create_repo(repo_id, private=payload.get("visibility") == "private")
        self.fake.model_repos.add(repo_id)
        return self._json(200, {"url": url, "name": repo_id})
