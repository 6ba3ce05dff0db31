"""A stand-in for the Hugging Face Hub on 127.0.0.1, written for the push tests.

It answers the endpoints ``huggingface_hub`` 1.x/2.x calls for
``create_repo`` -> ``create_branch`` -> ``create_commit`` (checked against the
installed client's ``hf_api.py`` and ``_commit_api.py``):

    POST /api/repos/create                               201, or 409 when the repo exists
    POST /api/validate-yaml                              the card's metadata, parsed with datasets' readers
    POST /api/datasets/{ns}/{name}/branch/{branch}       create a branch (409 when it exists)
    POST /api/datasets/{ns}/{name}/preupload/{rev}       every file "regular" (inline in the commit, so
                                                         no LFS/xet upload), with the git oid of the file
                                                         the revision already has: the client skips those
    POST /api/datasets/{ns}/{name}/commit/{rev}          NDJSON: header + base64 files; one commit
    GET  /api/datasets/{ns}/{name}[/revision/{rev}]      repo info (sha, siblings)
    GET  /api/datasets/{ns}/{name}/tree/{rev}[/{path}]   the files (list_repo_files), recursive or not
    GET  /datasets/{ns}/{name}/resolve/{rev}/{path}      a file's bytes (404 when absent)

A commit may add files and delete files or folders (``deletedFile``, ``deletedFolder``).

Tokens: ``write-token`` may write, ``read-token`` gets 403 on writes, anything
else 401. Every request is logged in ``requests``; unknown ones get 404.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

WRITE, READ = "write-token", "read-token"


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    private: bool = False
    refs: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {}})
    heads: dict[str, str] = field(default_factory=lambda: {"main": "0" * 40})
    commits: list[dict] = field(default_factory=list)


class Hub:
    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Hub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(hub: Hub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: dict | list, code: str | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status >= 400:
                self.send_header("X-Error-Message", body.get("error", ""))
            if code:
                self.send_header("X-Error-Code", code)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _auth(self, write: bool) -> bool:
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if token == WRITE or (token == READ and not write):
                return True
            if token == READ:
                self._send(403, {"error": "You don't have the rights to write to this repo"})
            else:
                self._send(401, {"error": "Invalid credentials in Authorization header"})
            return False

        def do_GET(self) -> None:
            path = urlparse(self.path).path
            hub.requests.append(("GET", path))
            files = re.fullmatch(r"/(?:api/)?datasets/([^/]+/[^/]+)/(tree|resolve)/([^/]+)(?:/(.+))?", path)
            if files:
                return self._files(files[1], files[2], unquote(files[3]), unquote(files[4] or ""),
                                   "recursive=true" in urlparse(self.path).query.lower())
            m = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)(?:/revision/(.+))?", path)
            if not m or not self._auth(write=False):
                return None if m else self._send(404, {"error": f"stand-in: no route GET {path}"})
            repo = hub.repos.get(m[1])
            rev = unquote(m[2] or "main")
            rev = next((ref for ref, sha in repo.heads.items() if sha == rev), rev) if repo else rev
            if repo is None or rev not in repo.refs:
                return self._send(404, {"error": "Repository not found"})
            self._send(200, {"id": m[1], "sha": repo.heads[rev], "private": repo.private,
                             "siblings": [{"rfilename": p} for p in sorted(repo.refs[rev])]})

        def do_HEAD(self) -> None:
            path = urlparse(self.path).path
            hub.requests.append(("HEAD", path))
            files = re.fullmatch(r"/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
            if not files:
                return self._send(404, {"error": f"stand-in: no route HEAD {path}"})
            self._files(files[1], "resolve", unquote(files[2]), unquote(files[3]), False, body=False)

        def _files(self, repo_id: str, what: str, rev: str, sub: str, recursive: bool, body: bool = True) -> None:
            if not self._auth(write=False):
                return None
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._send(404, {"error": "Repository not found"}, "RepoNotFound")
            rev = next((ref for ref, sha in repo.heads.items() if sha == rev), rev)  # a commit: its branch
            if rev not in repo.refs:
                return self._send(404, {"error": f"Invalid rev id: {rev}"}, "RevisionNotFound")
            files = repo.refs[rev]
            if what == "resolve":
                if sub not in files:
                    return self._send(404, {"error": "Entry not found"}, "EntryNotFound")
                self.send_response(200)
                self.send_header("Content-Length", str(len(files[sub])))
                self.send_header("ETag", f'"{git_oid(files[sub])}"')
                self.send_header("X-Repo-Commit", repo.heads[rev])
                self.end_headers()
                if body:
                    self.wfile.write(files[sub])
                return None
            prefix = f"{sub}/" if sub else ""
            entries, folders = [], set()
            for p in sorted(files):
                if not p.startswith(prefix):
                    continue
                rest = p[len(prefix):]
                if recursive or "/" not in rest:
                    entries.append({"type": "file", "path": p, "size": len(files[p]), "oid": git_oid(files[p])})
                else:
                    folders.add(prefix + rest.split("/", 1)[0])
            self._send(200, [{"type": "directory", "path": f, "oid": "0" * 40} for f in sorted(folders)] + entries)

        def do_POST(self) -> None:
            url = urlparse(self.path)
            path, query = url.path, url.query
            hub.requests.append(("POST", path))
            body = self._body()
            if path == "/api/validate-yaml":
                return self._validate(body)
            if path == "/api/repos/create":
                return self._create(json.loads(body))
            m = re.fullmatch(r"/api/datasets/([^/]+/[^/]+)/(preupload|commit|branch)/(.+)", path)
            if not m:
                return self._send(404, {"error": f"stand-in: no route POST {path}"})
            if not self._auth(write=True):
                return None
            repo, rev = hub.repos.get(m[1]), unquote(m[3])
            if repo is None:
                return self._send(404, {"error": "Repository not found"})
            with hub.lock:
                if m[2] == "branch":
                    if rev in repo.refs:
                        return self._send(409, {"error": "Branch already exists"})
                    repo.refs[rev] = dict(repo.refs["main"])
                    repo.heads[rev] = repo.heads["main"]
                    return self._send(200, {})
                if rev not in repo.refs:
                    return self._send(404, {"error": f"Invalid rev id: {rev}"})
                if m[2] == "preupload":
                    files = repo.refs[rev]
                    return self._send(200, {"files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                         "oid": git_oid(files[f["path"]]) if f["path"] in files else None}
                        for f in json.loads(body)["files"]]})
                return self._commit(m[1], repo, rev, body, "create_pr=1" in query)

        def _validate(self, body: bytes) -> None:
            from datasets.info import DatasetInfosDict
            from datasets.utils.metadata import MetadataConfigs
            from huggingface_hub import DatasetCard

            try:
                card = DatasetCard(json.loads(body)["content"])
                MetadataConfigs.from_dataset_card_data(card.data)
                DatasetInfosDict.from_dataset_card_data(card.data)
            except Exception as e:  # noqa: BLE001 - any failure is a validation error
                return self._send(400, {"error": "Invalid metadata", "errors": [{"message": str(e)}]})
            self._send(200, {"errors": [], "warnings": []})

        def _create(self, payload: dict) -> None:
            if not self._auth(write=True):
                return None
            repo_id = f"{payload['organization']}/{payload['name']}"
            if payload.get("type") != "dataset":
                return self._send(400, {"error": "stand-in: datasets only"})
            with hub.lock:
                if repo_id in hub.repos:
                    return self._send(409, {"error": "You already created this dataset repo",
                                            "url": f"{hub.url}/datasets/{repo_id}"})
                hub.repos[repo_id] = Repo(private=payload.get("visibility") == "private")
            self._send(200, {"url": f"{hub.url}/datasets/{repo_id}", "name": repo_id})

        def _commit(self, repo_id: str, repo: Repo, rev: str, body: bytes, create_pr: bool) -> None:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            files = dict(repo.refs[rev])
            for item in lines:
                if item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "deletedFile":
                    files.pop(item["value"]["path"], None)
                elif item["key"] == "deletedFolder":
                    folder = item["value"]["path"].rstrip("/") + "/"
                    files = {p: b for p, b in files.items() if not p.startswith(folder)}
                elif item["key"] != "header":
                    return self._send(400, {"error": f"stand-in: unsupported operation {item['key']}"})
            oid = hashlib.sha1(json.dumps([rev, header, sorted(files)], sort_keys=True).encode()
                               + str(len(repo.commits)).encode()).hexdigest()
            target = f"refs/pr/{sum(c['pr'] for c in repo.commits) + 1}" if create_pr else rev
            repo.refs[target], repo.heads[target] = files, oid
            repo.commits.append({"oid": oid, "revision": target, "summary": header["summary"], "pr": create_pr,
                                 "paths": sorted(x["value"]["path"] for x in lines if x["key"] == "file"),
                                 "deleted": sorted(x["value"]["path"] for x in lines if x["key"].startswith("deleted"))})
            pr_url = f"{hub.url}/datasets/{repo_id}/discussions/{target.rsplit('/', 1)[-1]}" if create_pr else None
            self._send(200, {"commitUrl": f"{hub.url}/datasets/{repo_id}/commit/{oid}", "commitOid": oid,
                             "pullRequestUrl": pr_url})

    return Handler
