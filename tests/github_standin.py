"""A stateful stand-in for the parts of GitHub's REST API the workflows use, on pytest-httpserver.

It keeps comments and pull requests in memory, answers like GitHub (shapes, 201/200/422) and records
every request (method, path, JSON body, Authorization header) for the tests to assert on.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug import Request, Response


@dataclass
class Recorded:
    method: str
    path: str
    body: dict | None
    authorization: str


@dataclass
class GitHubStandIn:
    repository: str
    remote: Path  # the bare git repository pushes land in: a PR's head branch must exist there
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    comments: dict[int, dict] = field(default_factory=dict)
    pulls: dict[int, dict] = field(default_factory=dict)

    def install(self, httpserver) -> None:
        httpserver.expect_request(re.compile(r"^/repos/.*")).respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        body = json.loads(request.get_data()) if request.get_data() else None
        self.requests.append(Recorded(request.method, request.path, body, request.headers.get("Authorization", "")))
        prefix = f"/repos/{self.repository}"
        if not request.path.startswith(prefix + "/"):
            return _json({"message": "Not Found"}, 404)
        route = f"{request.method} {request.path.removeprefix(prefix)}"
        for pattern, handler in self._routes():
            if match := re.fullmatch(pattern, route):
                return handler(body, *match.groups())
        return _json({"message": "Not Found"}, 404)

    def _routes(self):
        return [
            (r"GET /issues/(\d+)/comments", lambda body, n: _json(list(self.comments.values()))),
            (r"POST /issues/(\d+)/comments", self._create_comment),
            (r"PATCH /issues/comments/(\d+)", self._update_comment),
            (r"GET /pulls", lambda body: _json([p for p in self.pulls.values() if p["state"] == "open"])),
            (r"POST /pulls", self._create_pull),
            (r"PATCH /pulls/(\d+)", self._update_pull),
        ]

    def _create_comment(self, body: dict, number: str) -> Response:
        cid = 1000 + len(self.comments)
        self.comments[cid] = {"id": cid, "body": body["body"], "html_url": f"https://github.com/c/{cid}"}
        return _json(self.comments[cid], 201)

    def _update_comment(self, body: dict, cid: str) -> Response:
        self.comments[int(cid)]["body"] = body["body"]
        return _json(self.comments[int(cid)])

    def _branch_exists(self, branch: str) -> bool:
        out = subprocess.run(
            ["git", "-C", str(self.remote), "rev-parse", "--verify", f"refs/heads/{branch}"],
            check=False,
            capture_output=True,
        )
        return out.returncode == 0

    def _create_pull(self, body: dict) -> Response:
        if not self._branch_exists(body["head"]):
            errors = [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
            return _json({"message": "Validation Failed", "errors": errors}, 422)
        number = 1 + len(self.pulls)
        self.pulls[number] = {
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body["body"],
            "html_url": f"https://github.com/{self.repository}/pull/{number}",
            "head": {"ref": body["head"], "repo": {"full_name": self.repository}},
            "base": {"ref": body["base"]},
        }
        return _json(self.pulls[number], 201)

    def _update_pull(self, body: dict, number: str) -> Response:
        self.pulls[int(number)].update({k: body[k] for k in ("title", "body") if k in body})
        return _json(self.pulls[int(number)])

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]


def _json(data, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")
