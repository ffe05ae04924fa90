"""A stand-in for the parts of GitHub's REST API the baked project uses, as strict as GitHub.

Every request is checked against GitHub's published OpenAPI description (npm `@octokit/openapi`,
fetched once into `.tools/` by `spec_file()`), with openapi-core: path and query parameters, the
JSON body (one stricter rule: a body may carry only documented fields, so a misspelt field fails
instead of being ignored). Every answer is checked against the same description before it is sent:
a documented status of that operation, or one GitHub gives any request (400, 401, 404, 422), in its
documented shape. An answer that fails that check is a bug of the stand-in: it is answered with 500
and recorded in `problems`; `assert_clean()` fails on it.

State, kept in memory: issues and pull requests (one numbering, as on GitHub), their comments,
deployments and deployment statuses. What the token writes is authored by `login` (a workflow's
GITHUB_TOKEN: `github-actions[bot]`; an App's token: `<slug>[bot]`); `seed_comment(author=...)` adds
someone else's. Branches and commits are the bare git repository pushes land
in (`remote`): a PR's head and base must exist there, a PR's `head.sha` is the branch's commit now.

Routes (all under /repos/{owner}/{repo}, only for `repository`; other repositories get 404):
  GET/POST   /issues/{n}/comments          paginated; n must be an open issue or PR (else 404)
  PATCH      /issues/comments/{id}
  GET/POST   /pulls                        filters state, base, head (`owner:branch`), sort, direction
  GET/PATCH  /pulls/{n}
  GET/POST   /deployments                  filters sha, ref, task, environment; newest first
  GET        /deployments/{id}
  GET/POST   /deployments/{id}/statuses    `auto_inactive` as documented
As GitHub: 401 without the token or with another one ("Requires authentication" / "Bad credentials"),
404 for unknown ids, 422 "A pull request already exists for owner:branch." and "No commits between
base and head", `per_page` (default 30, at most 100) + `page` with a `Link` header.

Use: `standin = GitHubStandIn("acme/proj", bare_repo, token=TOKEN); standin.install(httpserver)`
(pytest-httpserver), or `with standin.serve() as url:` (its own server thread, no pytest needed).
Assert on `standin.requests` (every request, refused ones too) or `standin.calls(method, regex)`.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import functools
import hashlib
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

from werkzeug import Request, Response

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / ".tools"  # gitignored download cache
SPEC_PACKAGE = "@octokit/openapi@23.0.2"
SPEC_MEMBER = "package/generated/api.github.com.json"
SPEC_SHA256 = "829b4bebb19a53133289f7b0bc819f4f1118115821db2ca9f25e9ee995a7da2a"
API_HOST = "https://api.github.com"  # the description's server: requests are checked as if sent there
API_VERSIONS = {"2022-11-28"}  # X-GitHub-Api-Version values GitHub accepts; others get 400
DOCS = "https://docs.github.com/rest"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100
# Answers GitHub gives to any request, documented once in the description, not per operation.
ANY_OPERATION = {400: "basic-error", 401: "basic-error", 404: "basic-error", 422: "validation-error"}


# ----- GitHub's OpenAPI description ---------------------------------------------------------------


def spec_file() -> Path:
    """The description's JSON, downloaded once with npm (`npm pack`) into .tools/ and checked by sha256.

    Safe with pytest-xdist: workers take a file lock; the first one downloads, the others wait."""
    target = TOOLS / f"octokit-openapi-{SPEC_PACKAGE.rsplit('@', 1)[1]}" / "api.github.com.json"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(f"npm is needed once to fetch {SPEC_PACKAGE} into {TOOLS} (.ci/run installs it)")
        with tempfile.TemporaryDirectory(dir=TOOLS) as tmp:
            packed = subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", tmp, SPEC_PACKAGE],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if packed.returncode != 0:
                raise RuntimeError(f"npm pack {SPEC_PACKAGE} failed:\n{packed.stdout}\n{packed.stderr}")
            (tarball,) = Path(tmp).glob("*.tgz")
            with tarfile.open(tarball) as archive:
                data = archive.extractfile(SPEC_MEMBER).read()
            if hashlib.sha256(data).hexdigest() != SPEC_SHA256:
                raise RuntimeError(f"{SPEC_MEMBER} of {SPEC_PACKAGE} does not have the expected sha256")
            partial = target.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(target)
    return target


def _only_documented_fields(spec: dict) -> None:
    """Request bodies that list their properties may carry only those (GitHub ignores some others)."""
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            schema = content.get("schema", {})
            if "properties" in schema and not {"additionalProperties", "allOf", "anyOf", "oneOf"} & set(schema):
                schema["additionalProperties"] = False


@dataclass
class Description:
    spec: dict
    api: object  # openapi_core.OpenAPI
    registry: object  # referencing.Registry holding the spec, for the answers GitHub gives any operation

    @functools.cached_property
    def operations(self) -> dict[str, dict]:
        """operationId -> its operation object."""
        return {
            op["operationId"]: op
            for item in self.spec["paths"].values()
            for op in item.values()
            if isinstance(op, dict) and "operationId" in op
        }

    def example(self, name: str):
        return copy.deepcopy(self.spec["components"]["examples"][name]["value"])

    def schema_errors(self, schema: str, value) -> list[str]:
        from openapi_schema_validator import OAS30Validator

        validator = OAS30Validator({"$ref": f"urn:github#/components/schemas/{schema}"}, registry=self.registry)
        return [
            f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
            for error in validator.iter_errors(value)
        ]


@functools.cache
def description() -> Description:
    """Loaded and prepared once per process (~1 s): the description is 13 MB."""
    from openapi_core import Config, OpenAPI
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    spec = json.loads(spec_file().read_text())
    checked = copy.deepcopy(spec)
    _only_documented_fields(checked)
    api = OpenAPI.from_dict(checked, config=Config(spec_validator_cls=None))  # GitHub's own file: trusted
    registry = Registry().with_resource("urn:github", Resource.from_contents(spec, default_specification=DRAFT4))
    return Description(spec, api, registry)


def _explain(error: BaseException) -> str:
    """openapi-core's error and its causes as one text (schema errors listed)."""
    parts, seen = [], error
    while seen is not None:
        found = [item.message for item in getattr(seen, "schema_errors", ()) or ()]
        parts.append("; ".join(found) if found else str(seen))
        seen = seen.__cause__
    return ": ".join(dict.fromkeys(part for part in parts if part))


# ----- the stand-in -------------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: object
    authorization: str
    status: int = 0


class Answer(Exception):
    """Raised by a route to answer now (an error, in GitHub's shape)."""

    def __init__(self, status: int, data, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.data, self.headers = status, data, headers or {}


def _error(status: int, message: str, docs: str = DOCS, errors: list | None = None) -> Answer:
    data = {"message": message, "documentation_url": docs, "status": str(status)}
    if errors is not None:
        data["errors"] = errors
    return Answer(status, data)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


ROUTES = {  # (method, path below /repos/{owner}/{repo}) -> operationId in the description
    ("GET", r"/issues/\d+/comments"): "issues/list-comments",
    ("POST", r"/issues/\d+/comments"): "issues/create-comment",
    ("PATCH", r"/issues/comments/\d+"): "issues/update-comment",
    ("GET", r"/pulls"): "pulls/list",
    ("POST", r"/pulls"): "pulls/create",
    ("GET", r"/pulls/\d+"): "pulls/get",
    ("PATCH", r"/pulls/\d+"): "pulls/update",
    ("GET", r"/deployments"): "repos/list-deployments",
    ("POST", r"/deployments"): "repos/create-deployment",
    ("GET", r"/deployments/\d+"): "repos/get-deployment",
    ("GET", r"/deployments/\d+/statuses"): "repos/list-deployment-statuses",
    ("POST", r"/deployments/\d+/statuses"): "repos/create-deployment-status",
}


@dataclass
class GitHubStandIn:
    repository: str  # owner/name
    remote: Path | None = None  # the bare repository pushes land in; None: branches/commits from `refs`
    token: str = "ghs_" + "standin" * 6
    login: str = "github-actions[bot]"  # the author GitHub records for what the token writes
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> sha, when there is no `remote`
    port: int = 0
    requests: list[Recorded] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # answers that broke the description: stand-in bugs
    comments: dict[int, dict] = field(default_factory=dict)  # comment id -> issue-comment
    pulls: dict[int, dict] = field(default_factory=dict)  # number -> pull-request (head.sha refreshed)
    issues: set[int] = field(default_factory=set)  # plain issue numbers (comments may go there)
    deployments: dict[int, dict] = field(default_factory=dict)  # id -> deployment
    statuses: dict[int, list[dict]] = field(default_factory=dict)  # deployment id -> statuses, oldest first

    def __post_init__(self) -> None:
        self.owner, self.name = self.repository.split("/")
        self._lock = threading.Lock()
        self._ids = iter(range(1001, 10**9))  # comment, deployment and status ids
        self._numbers = iter(range(1, 10**6))  # issue and PR numbers
        self._bot = self._user(self.login)
        description()  # load now, not inside the first request's timeout

    # ----- serving ----------------------------------------------------------------------------

    def install(self, httpserver) -> None:
        """Answer every request of a pytest-httpserver with this stand-in."""
        httpserver.expect_request(re.compile(r".*")).respond_with_handler(self.handle)
        self.port = httpserver.port

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1") -> Iterator[str]:
        """Run on a free port of `host` in a thread; yields the base URL (GITHUB_API_URL)."""
        from werkzeug.serving import make_server

        server = make_server(host, 0, self.wsgi, threaded=True)
        self.port = server.server_port
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"http://{host}:{self.port}"
        finally:
            server.shutdown()
            thread.join(timeout=10)

    def wsgi(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)

    def assert_clean(self) -> None:
        assert not self.problems, "the GitHub stand-in broke GitHub's description:\n" + "\n".join(self.problems)

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        """Recorded requests of `method` whose path matches `pattern` (re.search), refused ones too."""
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    # ----- seeding state (as if it happened on GitHub before the test) -------------------------

    def seed_pull(
        self, head: str, base: str, title: str = "Seeded", body: str = "", number: int | None = None, author: str = ""
    ) -> dict:
        """An open PR from `head` (a branch of the remote) into `base`, without a request; opened by
        `author` (a user) or else the token's identity."""
        assert self._branch_sha(head) and self._branch_sha(base), f"seed_pull: push {head} and {base} first"
        with self._lock:
            pull = self._new_pull(head, base, title, body, number)
            if author:
                pull["user"] = self._user(author)
            return pull

    def seed_comment(self, number: int, body: str, author: str | None = None) -> dict:
        """A comment on issue/PR `number`, without a request; by `author` (a user) or else the token's."""
        with self._lock:
            return self._comment(number, body, self._user(author) if author else None)

    def seed_issue(self, number: int | None = None) -> int:
        with self._lock:
            number = self._number(number)
            self.issues.add(number)
            return number

    # ----- request handling -------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        with self._lock:
            raw = request.get_data()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            recorded = Recorded(
                request.method, request.path, request.args.to_dict(), body, request.headers.get("Authorization", "")
            )
            self.requests.append(recorded)
            operation = None
            try:
                operation, checked = self._check(request, raw)
                status, data, headers = self._route(request, operation, checked)
            except Answer as answer:
                status, data, headers = answer.status, answer.data, answer.headers
            response = self._answer(request, operation, status, data, headers)
            recorded.status = response.status_code
            return response

    def _check(self, request: Request, raw: bytes):
        """Token, API version, route, then the description; the operation and the parsed request."""
        from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound
        from openapi_core.testing import MockRequest

        authorization = request.headers.get("Authorization", "")
        scheme, _, given = authorization.partition(" ")
        if not authorization:
            raise _error(401, "Requires authentication")
        if scheme.lower() not in {"bearer", "token"} or given != self.token:
            raise _error(401, "Bad credentials")
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version not in API_VERSIONS:
            raise _error(400, f"Unsupported 'X-GitHub-Api-Version': {version!r}")
        if raw:
            try:
                json.loads(raw)
            except ValueError:
                raise _error(400, "Problems parsing JSON") from None
        checked = description().api.unmarshal_request(
            MockRequest(
                API_HOST,
                request.method.lower(),
                request.path,
                args=request.args,
                data=raw or None,
                content_type=request.mimetype or "application/json",
            )
        )
        errors = checked.errors
        if any(isinstance(error, PathNotFound | OperationNotFound) for error in errors):
            raise _error(404, "Not Found")
        prefix = f"/repos/{self.repository}"
        route = request.path.removeprefix(prefix) if request.path.lower().startswith(prefix.lower() + "/") else None
        operation = next(
            (
                op
                for (method, pattern), op in ROUTES.items()
                if method == request.method and re.fullmatch(pattern, route or "")
            ),
            None,
        )
        if route is None:
            raise _error(404, "Not Found")  # another repository: GitHub's answer to one the token cannot see
        if operation is None:
            self.problems.append(f"{request.method} {request.path}: documented, but the stand-in does not implement it")
            raise _error(404, "Not Found")
        if errors:
            raise Answer(
                422,
                {
                    "message": "Invalid request.\n\n" + "\n".join(_explain(error) for error in errors),
                    "documentation_url": DOCS,
                    "status": "422",
                },
            )
        return operation, checked

    def _documents(self, operation: str, status: int) -> bool:
        return str(status) in description().operations[operation]["responses"]

    def _answer(self, request: Request, operation: str | None, status: int, data, headers) -> Response:
        """The response, after checking it against the description (500 + `problems` if it breaks it)."""
        from openapi_core.testing import MockRequest, MockResponse

        text = json.dumps(data)
        problems: list[str] = []
        if status in ANY_OPERATION and (operation is None or not self._documents(operation, status)):
            problems = description().schema_errors(ANY_OPERATION[status], data)
        elif operation is None:
            problems = [f"no operation answers {status}"]
        else:
            result = description().api.unmarshal_response(
                MockRequest(API_HOST, request.method.lower(), request.path, args=request.args, data=request.get_data()),
                MockResponse(text.encode(), status_code=status, content_type="application/json", headers=headers),
            )
            problems = [_explain(error) for error in result.errors]
        if problems:
            self.problems.append(f"{request.method} {request.path} -> {status}: " + "; ".join(problems)[:2000])
            status, text = (
                500,
                json.dumps({"message": "stand-in answer breaks GitHub's description", "problems": problems}),
            )
        response = Response(text, status=status, content_type="application/json; charset=utf-8")
        for key, value in headers.items():
            response.headers[key] = value
        return response

    def _route(self, request: Request, operation: str, checked):
        args = checked.parameters.path
        # Only what the client sent (typed by the description): the description's defaults are not
        # always GitHub's behaviour (list-deployments documents environment "none").
        query = {key: value for key, value in checked.parameters.query.items() if key in request.args}
        body = request.get_json(silent=True) if request.get_data() else None
        handler = getattr(self, "_" + operation.replace("/", "_").replace("-", "_"))
        return handler(request=request, args=args, query=query, body=body)

    # ----- pagination ---------------------------------------------------------------------------

    def _page(self, request: Request, items: list, query: dict):
        per_page = min(max(int(query.get("per_page", DEFAULT_PER_PAGE)), 1), MAX_PER_PAGE)
        page = max(int(query.get("page", 1)), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        base = request.host_url.rstrip("/") + request.path
        others = {key: value for key, value in request.args.items() if key not in {"page", "per_page"}}

        def url(number: int) -> str:
            return f"{base}?{urlencode({**others, 'per_page': per_page, 'page': number})}"

        links = []
        if page > 1:
            links += [f'<{url(page - 1)}>; rel="prev"', f'<{url(1)}>; rel="first"']
        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, items[(page - 1) * per_page : page * per_page], headers

    # ----- git --------------------------------------------------------------------------------

    def _sha(self, ref: str) -> str | None:
        """The commit a branch, tag or sha names in the remote (or in `refs`), None if unknown."""
        if self.remote is None:
            if ref in self.refs:
                return self.refs[ref]
            return next((sha for sha in self.refs.values() if len(ref) >= 7 and sha.startswith(ref)), None)
        out = subprocess.run(
            ["git", "-C", str(self.remote), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            capture_output=True,
            text=True,
            check=False,
        )
        return out.stdout.strip() if out.returncode == 0 else None

    def _branch_sha(self, branch: str) -> str | None:
        if self.remote is None:
            return self.refs.get(branch)
        return self._sha(f"refs/heads/{branch}")

    def _contains(self, base_sha: str, head_sha: str) -> bool:
        """Whether `base` already has every commit of `head` ("No commits between")."""
        if self.remote is None:
            return base_sha == head_sha
        out = subprocess.run(
            ["git", "-C", str(self.remote), "merge-base", "--is-ancestor", head_sha, base_sha], check=False
        )
        return out.returncode == 0

    # ----- objects in GitHub's shapes (from the description's examples) ---------------------------

    def _number(self, wanted: int | None) -> int:
        taken = set(self.pulls) | self.issues
        if wanted is not None:
            assert wanted not in taken, f"issue/PR #{wanted} exists already"
            return wanted
        return next(n for n in self._numbers if n not in taken)

    def _user(self, login: str) -> dict:
        user = description().example("simple-user")
        kind = "Bot" if login.endswith("[bot]") else "User"  # GitHub's bot accounts, by their login
        user.update(login=login, type=kind, html_url=f"https://github.com/{login}", url=f"{API_HOST}/users/{login}")
        return user

    def _repo(self) -> dict:
        template = description().example("pull-request")["base"]["repo"]
        text = json.dumps(template).replace("octocat/Hello-World", self.repository)
        repo = json.loads(text)
        repo.update(name=self.name, full_name=self.repository, default_branch="main")
        repo["owner"].update(login=self.owner)
        return repo

    def _new_pull(self, head: str, base: str, title: str, body: str | None, number: int | None = None) -> dict:
        number = self._number(number)
        pull = json.loads(
            json.dumps(description().example("pull-request"))
            .replace("octocat/Hello-World", self.repository)
            .replace("/1347", f"/{number}")
        )
        now = _now()
        pull.update(
            id=number,
            number=number,
            state="open",
            locked=False,
            title=title,
            body=body,
            user=self._bot,
            labels=[],
            milestone=None,
            active_lock_reason=None,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            created_at=now,
            updated_at=now,
            closed_at=None,
            merged_at=None,
            merge_commit_sha=None,
            merged=False,
            merged_by=None,
            author_association="NONE",
            comments=0,
        )
        for side, ref in (("head", head), ("base", base)):
            pull[side].update(label=f"{self.owner}:{ref}", ref=ref, user=self._user(self.owner), repo=self._repo())
        self.pulls[number] = pull
        self._refresh(pull)
        return pull

    def _refresh(self, pull: dict) -> dict:
        for side in ("head", "base"):
            pull[side]["sha"] = self._branch_sha(pull[side]["ref"]) or pull[side]["sha"]
        return pull

    def _simple(self, pull: dict) -> dict:
        template = description().example("pull-request-simple-items")[0]
        return {key: value for key, value in self._refresh(pull).items() if key in template}

    def _pull(self, number: int) -> dict:
        if number not in self.pulls:
            raise _error(404, "Not Found", "https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
        return self.pulls[number]

    # ----- issue comments -----------------------------------------------------------------------

    def _issue_exists(self, number: int) -> None:
        if number not in self.issues and number not in self.pulls:
            raise _error(404, "Not Found", "https://docs.github.com/rest/issues/comments")

    def _issues_list_comments(self, request, args, query, body):
        number = args["issue_number"]
        self._issue_exists(number)
        mine = [c for c in self.comments.values() if c["issue_url"].endswith(f"/issues/{number}")]
        return self._page(request, mine, query)

    def _issues_create_comment(self, request, args, query, body):
        comment = self._comment(args["issue_number"], body["body"])
        return 201, comment, {"Location": comment["url"]}

    def _comment(self, number: int, text: str, user: dict | None = None) -> dict:
        self._issue_exists(number)
        cid = next(self._ids)
        comment = description().example("issue-comment")
        repo = f"{API_HOST}/repos/{self.repository}"
        now = _now()
        comment.update(
            id=cid,
            node_id=f"IC_{cid}",
            url=f"{repo}/issues/comments/{cid}",
            html_url=f"https://github.com/{self.repository}/pull/{number}#issuecomment-{cid}",
            issue_url=f"{repo}/issues/{number}",
            body=text,
            user=user or self._bot,
            created_at=now,
            updated_at=now,
            author_association="NONE",
        )
        comment.pop("reactions", None)
        self.comments[cid] = comment
        if number in self.pulls:
            self.pulls[number]["comments"] += 1
        return comment

    def _issues_update_comment(self, request, args, query, body):
        cid = args["comment_id"]
        if cid not in self.comments:
            raise _error(404, "Not Found", "https://docs.github.com/rest/issues/comments#update-an-issue-comment")
        self.comments[cid].update(body=body["body"], updated_at=_now())
        return 200, self.comments[cid], {}

    # ----- pull requests ------------------------------------------------------------------------

    def _pulls_list(self, request, args, query, body):
        state = query.get("state", "open")
        pulls = [p for p in self.pulls.values() if state == "all" or p["state"] == state]
        if "base" in query:
            pulls = [p for p in pulls if p["base"]["ref"] == query["base"]]
        if "head" in query:
            owner, colon, branch = query["head"].partition(":")
            if not colon:  # GitHub: "in the format of user:ref-name"; stricter here: refuse, don't ignore
                raise _error(
                    422,
                    "Validation Failed",
                    "https://docs.github.com/rest/pulls/pulls#list-pull-requests",
                    [{"resource": "PullRequest", "field": "head", "code": "invalid"}],
                )
            pulls = [p for p in pulls if owner.lower() == self.owner.lower() and p["head"]["ref"] == branch]
        key = "updated_at" if query.get("sort") == "updated" else "created_at"
        newest_first = query.get("direction", "desc" if query.get("sort", "created") == "created" else "asc")
        pulls.sort(key=lambda p: (p[key], p["number"]), reverse=newest_first == "desc")
        return self._page(request, [self._simple(p) for p in pulls], query)

    def _pulls_create(self, request, args, query, body):
        docs = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"
        if "title" not in body and "issue" not in body:
            raise _error(
                422, "Validation Failed", docs, [{"resource": "PullRequest", "field": "title", "code": "missing_field"}]
            )
        owner, colon, head = body["head"].rpartition(":")
        if colon and owner.lower() != self.owner.lower():
            raise _error(
                422, "Validation Failed", docs, [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
            )
        head_sha, base_sha = self._branch_sha(head), self._branch_sha(body["base"])
        if head_sha is None:
            raise _error(
                422, "Validation Failed", docs, [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
            )
        if base_sha is None:
            raise _error(
                422, "Validation Failed", docs, [{"resource": "PullRequest", "field": "base", "code": "invalid"}]
            )
        for pull in self.pulls.values():
            if pull["state"] == "open" and pull["head"]["ref"] == head and pull["base"]["ref"] == body["base"]:
                message = f"A pull request already exists for {self.owner}:{head}."
                raise _error(
                    422, "Validation Failed", docs, [{"resource": "PullRequest", "code": "custom", "message": message}]
                )
        if self._contains(base_sha, head_sha):
            message = f"No commits between {body['base']} and {head}"
            raise _error(
                422, "Validation Failed", docs, [{"resource": "PullRequest", "code": "custom", "message": message}]
            )
        pull = self._new_pull(head, body["base"], body.get("title", ""), body.get("body"))
        pull["draft"] = bool(body.get("draft", False))
        return 201, pull, {"Location": pull["url"]}

    def _pulls_get(self, request, args, query, body):
        return 200, self._refresh(self._pull(args["pull_number"])), {}

    def _pulls_update(self, request, args, query, body):
        pull = self._pull(args["pull_number"])
        docs = "https://docs.github.com/rest/pulls/pulls#update-a-pull-request"
        if "base" in body and self._branch_sha(body["base"]) is None:
            raise _error(
                422, "Validation Failed", docs, [{"resource": "PullRequest", "field": "base", "code": "invalid"}]
            )
        for key in ("title", "body", "maintainer_can_modify"):
            if key in body:
                pull[key] = body[key]
        if "base" in body:
            pull["base"]["ref"] = body["base"]
        if body.get("state") in {"open", "closed"} and body["state"] != pull["state"]:
            pull["state"] = body["state"]
            pull["closed_at"] = _now() if body["state"] == "closed" else None
        pull["updated_at"] = _now()
        return 200, self._refresh(pull), {}

    # ----- deployments --------------------------------------------------------------------------

    def _deployment(self, deployment_id: int) -> dict:
        if deployment_id not in self.deployments:
            raise _error(404, "Not Found", "https://docs.github.com/rest/deployments/deployments#get-a-deployment")
        return self.deployments[deployment_id]

    def _repos_list_deployments(self, request, args, query, body):
        found = sorted(self.deployments.values(), key=lambda d: d["id"], reverse=True)
        for key in ("sha", "ref", "task", "environment"):
            if query.get(key) is not None:
                found = [d for d in found if d[key] == query[key]]
        return self._page(request, found, query)

    def _repos_create_deployment(self, request, args, query, body):
        sha = self._sha(body["ref"])
        if sha is None:
            raise _error(
                422,
                f"No ref found for: {body['ref']}",
                "https://docs.github.com/rest/deployments/deployments#create-a-deployment",
            )
        did = next(self._ids)
        environment = body.get("environment", "production")
        payload = body.get("payload", {})
        if isinstance(payload, str):
            payload = json.loads(payload) if payload.strip() else {}
        deployment = description().example("deployment")
        repo = f"{API_HOST}/repos/{self.repository}"
        now = _now()
        deployment.update(
            id=did,
            node_id=f"DE_{did}",
            url=f"{repo}/deployments/{did}",
            statuses_url=f"{repo}/deployments/{did}/statuses",
            repository_url=repo,
            sha=sha,
            ref=body["ref"],
            task=body.get("task", "deploy"),
            payload=payload,
            original_environment=environment,
            environment=environment,
            description=body.get("description", ""),
            creator=self._bot,
            created_at=now,
            updated_at=now,
            transient_environment=bool(body.get("transient_environment", False)),
            production_environment=bool(body.get("production_environment", environment == "production")),
            performed_via_github_app=None,
        )
        self.deployments[did] = deployment
        self.statuses[did] = []
        return 201, deployment, {"Location": deployment["url"]}

    def _repos_get_deployment(self, request, args, query, body):
        return 200, self._deployment(args["deployment_id"]), {}

    def _repos_list_deployment_statuses(self, request, args, query, body):
        self._deployment(args["deployment_id"])
        newest_first = sorted(self.statuses[args["deployment_id"]], key=lambda s: s["id"], reverse=True)
        return self._page(request, newest_first, query)

    def _new_status(self, deployment: dict, state: str, body: dict) -> dict:
        sid = next(self._ids)
        status = description().example("deployment-status")
        log_url = body.get("log_url", body.get("target_url", ""))
        now = _now()
        status.update(
            id=sid,
            node_id=f"DES_{sid}",
            url=f"{deployment['url']}/statuses/{sid}",
            deployment_url=deployment["url"],
            repository_url=deployment["repository_url"],
            state=state,
            creator=self._bot,
            description=body.get("description", ""),
            environment=deployment["environment"],
            target_url=log_url,
            log_url=log_url,
            environment_url=body.get("environment_url", ""),
            created_at=now,
            updated_at=now,
            performed_via_github_app=None,
        )
        self.statuses[deployment["id"]].append(status)
        deployment["updated_at"] = now
        return status

    def _repos_create_deployment_status(self, request, args, query, body):
        deployment = self._deployment(args["deployment_id"])
        docs = "https://docs.github.com/rest/deployments/statuses#create-a-deployment-status"
        if len(body.get("description", "")) > 140:
            raise _error(
                422,
                "Validation Failed",
                docs,
                [
                    {
                        "resource": "DeploymentStatus",
                        "field": "description",
                        "code": "custom",
                        "message": "description is too long (maximum is 140 characters)",
                    }
                ],
            )
        if body.get("environment"):
            deployment["environment"] = body["environment"]
        status = self._new_status(deployment, body["state"], body)
        if body["state"] == "success" and body.get("auto_inactive", True):
            # Documented: prior non-transient, non-production deployments of the same environment whose
            # state is success get an `inactive` status.
            for other in self.deployments.values():
                latest = self.statuses[other["id"]][-1:] if other["id"] != deployment["id"] else []
                if (
                    other["id"] < deployment["id"]
                    and other["environment"] == deployment["environment"]
                    and not other["transient_environment"]
                    and not other["production_environment"]
                    and latest
                    and latest[0]["state"] == "success"
                ):
                    self._new_status(other, "inactive", {"description": f"superseded by deployment {deployment['id']}"})
        return 201, status, {"Location": status["url"]}
