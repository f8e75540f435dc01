"""A STAND-IN for the Hugging Face Hub's *write* API -- the only stand-in in the Hub tests.

olah (a real, self-hosted Hub mirror; tests/versions/conftest.py starts it) serves dataset
git repositories to the real ``datasets`` and ``huggingface_hub`` clients, but accepts no
uploads. This small HTTP server on 127.0.0.1 answers the write calls ``huggingface_hub``
makes when ``sahelwire publish`` runs -- create-repo, validate-yaml, preupload, commit
(NDJSON), create/delete tag -- by writing real git commits and annotated tags into the
bare repository olah serves (``<mirrors>/datasets/<org>/<name>``). Every other request
(refs, tree listings, repo info, file downloads) is forwarded to olah, so what ``publish``
reads back is what the mirror serves; the one change is that a ranged GET that olah answers
with the whole file (it ignores ``Range`` on its local-mirror route) is answered 206 with the
requested slice of olah's bytes, as the Hub does -- streaming loads go through here for that.

Scope, stated plainly: regular (inline base64) files only -- preupload answers
``uploadMode: "regular"`` so no LFS/Xet transfer is involved, which the Hub also does for
small files; one bearer token; no pull requests.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

GITATTRIBUTES = b"# created with the repository, as the Hub does; not part of a release\n"
_REPO = r"/api/datasets/(?P<org>[^/]+)/(?P<name>[^/]+)"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "hub-write-stand-in",
    "GIT_AUTHOR_EMAIL": "stand-in@hub.invalid",
    "GIT_COMMITTER_NAME": "hub-write-stand-in",
    "GIT_COMMITTER_EMAIL": "stand-in@hub.invalid",
}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"}


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` as [start, end), or None when absent/other."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if not match or not (match.group(1) or match.group(2)) or not size:
        return None
    first, last = match.groups()
    if not first:
        return max(size - int(last), 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    return (start, end) if start < end else None


class HubError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Recorded:
    method: str
    path: str
    authorization: str | None


@dataclass
class HubWriteAPI:
    mirrors: Path  # olah's mirrors-path
    olah_url: str
    token: str
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- git plumbing on the bare repository olah serves --------------------------------

    def repo(self, org: str, name: str) -> Path:
        return self.mirrors / "datasets" / org / name

    def git(
        self, repo: Path, *args: str, data: bytes | None = None, env: dict[str, str] | None = None
    ) -> str:
        result = subprocess.run(
            ["git", "--git-dir", str(repo), *args],
            input=data,
            capture_output=True,
            env={**os.environ, **_IDENTITY, **(env or {})},
            check=False,
        )
        if result.returncode != 0:
            raise HubError(500, f"git {args[0]}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode().strip()

    def resolve(self, repo: Path, rev: str) -> str | None:
        result = subprocess.run(
            [
                "git",
                "--git-dir",
                str(repo),
                "rev-parse",
                "--verify",
                "--quiet",
                f"{rev}^{{commit}}",
            ],
            capture_output=True,
            check=False,
        )
        return result.stdout.decode().strip() or None

    def blob_at(self, repo: Path, rev: str, path: str) -> str | None:
        """The git blob id of ``path`` at ``rev`` (how the Hub names a regular file), or None."""
        result = subprocess.run(
            ["git", "--git-dir", str(repo), "rev-parse", "--verify", "--quiet", f"{rev}:{path}"],
            capture_output=True,
            check=False,
        )
        return result.stdout.decode().strip() or None

    def create_repo(self, org: str, name: str) -> bool:
        repo = self.repo(org, name)
        if repo.exists():
            return False
        repo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(repo)], check=True)
        self.commit(
            repo, "main", "initial commit", [("file", ".gitattributes", GITATTRIBUTES)], None
        )
        return True

    def commit(
        self,
        repo: Path,
        branch: str,
        summary: str,
        operations: list[tuple[str, str, bytes | None]],
        parent_commit: str | None,
    ) -> str:
        head = self.resolve(repo, f"refs/heads/{branch}")
        if parent_commit and head and not head.startswith(parent_commit):
            raise HubError(
                412, f"parent commit {parent_commit} is not the head of {branch} ({head})"
            )
        with tempfile.TemporaryDirectory() as tmp:
            # A scratch index (and an empty work tree, which index commands insist on);
            # the bare repository itself only ever gains objects and refs.
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": tmp}
            if head:
                self.git(repo, "read-tree", head, env=env)
            for kind, path, data in operations:
                if kind == "file":
                    assert data is not None
                    oid = self.git(repo, "hash-object", "-w", "--stdin", data=data)
                    self.git(
                        repo,
                        "update-index",
                        "--add",
                        "--cacheinfo",
                        f"100644,{oid},{path}",
                        env=env,
                    )
                elif kind == "deletedFile":
                    self.git(repo, "update-index", "--force-remove", path, env=env)
                elif kind == "deletedFolder":
                    listed = self.git(repo, "ls-files", "--", path.rstrip("/") + "/", env=env)
                    for name in listed.splitlines():
                        self.git(repo, "update-index", "--force-remove", name, env=env)
            tree = self.git(repo, "write-tree", env=env)
        parents = ["-p", head] if head else []
        new = self.git(repo, "commit-tree", tree, *parents, "-m", summary)
        self.git(repo, "update-ref", f"refs/heads/{branch}", new, *([head] if head else []))
        return new

    # -- the HTTP side -------------------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes, auth: str | None) -> tuple[int, Any]:
        """(status, JSON body) for a write call; raises LookupError for a read (proxied)."""
        if method == "POST" and path == "/api/validate-yaml":
            content = json.loads(body)["content"]
            match = re.match(r"^---\n(.*?)\n---", content, flags=re.S)
            try:
                meta = yaml.safe_load(match[1]) if match else {}
            except yaml.YAMLError as exc:
                return 200, {"errors": [{"message": str(exc)}], "warnings": []}
            errors = [] if isinstance(meta, dict) else [{"message": "metadata is not a mapping"}]
            return 200, {"errors": errors, "warnings": []}
        if method in ("GET", "HEAD"):
            raise LookupError(path)  # every read is olah's, as anonymous as a public repo's
        if auth != f"Bearer {self.token}":
            raise HubError(401, "invalid or missing token")
        if method == "POST" and path == "/api/repos/create":
            payload = json.loads(body)
            if payload.get("type") != "dataset" or not payload.get("organization"):
                raise HubError(400, "the stand-in creates dataset repos ORG/NAME only")
            org, name = payload["organization"], payload["name"]
            url = f"/datasets/{org}/{name}"
            if not self.create_repo(org, name):
                return 409, {"error": "You already created this dataset repo", "url": url}
            return 200, {"url": url}
        match = re.fullmatch(_REPO + r"/(?P<op>preupload|commit|tag)/(?P<rev>[^/]+)", path)
        if not match:
            raise LookupError(path)
        org, name, op, rev = match["org"], match["name"], match["op"], unquote(match["rev"])
        repo = self.repo(org, name)
        if not repo.exists():
            raise HubError(404, f"Repository not found: datasets/{org}/{name}")
        if op == "preupload" and method == "POST":
            files = json.loads(body)["files"]
            answer = []
            for f in files:
                # the remote oid lets huggingface_hub skip a file that did not change
                answer.append(
                    {
                        "path": f["path"],
                        "uploadMode": "regular",
                        "shouldIgnore": False,
                        "oid": self.blob_at(repo, rev, f["path"]),
                    }
                )
            return 200, {"files": answer}
        if op == "commit" and method == "POST":
            lines = [json.loads(x) for x in body.splitlines() if x.strip()]
            header = next(x["value"] for x in lines if x["key"] == "header")
            operations: list[tuple[str, str, bytes | None]] = []
            for line in lines:
                key, value = line["key"], line["value"]
                if key == "file":
                    operations.append(("file", value["path"], base64.b64decode(value["content"])))
                elif key in ("deletedFile", "deletedFolder"):
                    operations.append((key, value["path"], None))
                elif key != "header":
                    raise HubError(400, f"the stand-in accepts regular files only, not {key}")
            oid = self.commit(repo, rev, header["summary"], operations, header.get("parentCommit"))
            return 200, {
                "commitUrl": f"{self.public_url}/datasets/{org}/{name}/commit/{oid}",
                "commitOid": oid,
                "success": True,
                "pullRequestUrl": None,
            }
        if op == "tag" and method == "POST":
            payload = json.loads(body)
            tag = payload["tag"]
            if self.resolve(repo, f"refs/tags/{tag}"):
                raise HubError(409, f"Tag {tag} already exists")
            target = self.resolve(repo, rev)
            if not target:
                raise HubError(404, f"Revision not found: {rev}")
            self.git(repo, "tag", "-a", tag, target, "-m", payload.get("message") or tag)
            return 200, {}
        if op == "tag" and method == "DELETE":
            if not self.resolve(repo, f"refs/tags/{rev}"):
                raise HubError(404, f"Tag {rev} not found")
            self.git(repo, "tag", "-d", rev)
            return 200, {}
        raise LookupError(path)

    public_url: str = ""

    def serve(self) -> tuple[ThreadingHTTPServer, threading.Thread]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                return

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = urlsplit(self.path).path
                auth = self.headers.get("Authorization")
                api.requests.append(Recorded(self.command, path, auth))
                try:
                    with api.lock:
                        status, payload = api.handle(self.command, path, body, auth)
                except LookupError:
                    self._proxy(body)
                    return
                except HubError as exc:
                    status, payload = exc.status, {"error": str(exc)}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status >= 400:
                    self.send_header("X-Error-Message", payload["error"])
                self.end_headers()
                self.wfile.write(data)

            def _proxy(self, body: bytes) -> None:
                """Reads go to olah unchanged (no redirect following)."""
                target = urlsplit(api.olah_url)
                assert target.hostname is not None, api.olah_url
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                response = conn.getresponse()
                data = response.read()
                status, extra = response.status, {}
                wanted = _byte_range(self.headers.get("Range"), len(data))
                if status == 200 and wanted is not None:
                    # olah 0.5.4's local-mirror file route ignores Range and answers 200 with
                    # the whole file (legal HTTP), but huggingface_hub's streaming reader takes
                    # whatever body comes back as the range it asked for, so a Parquet footer
                    # read of a file over 64 KiB gets the file's first bytes. The Hub answers
                    # 206: so does this pass-through, slicing olah's own bytes, nothing else.
                    start, end = wanted
                    extra = {"Content-Range": f"bytes {start}-{end - 1}/{len(data)}"}
                    status, data = 206, data[start:end]
                self.send_response(status)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP | {"content-range"}:
                        self.send_header(key, value)
                for key, value in extra.items():
                    self.send_header(key, value)
                # A HEAD has no body: its length is olah's, which clients size downloads by.
                length = response.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _any

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.public_url = f"http://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, name="hub-write-api", daemon=True)
        thread.start()
        return server, thread
