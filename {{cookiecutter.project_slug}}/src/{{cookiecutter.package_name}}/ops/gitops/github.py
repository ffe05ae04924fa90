"""A small GitHub REST API client for the workflows: one sticky PR comment per marker (CI reports),
one open retraining PR (CT) and a Deployment with statuses for every rollout (CD).

The token needs `pull-requests: write` (comments, PRs), `contents: write` to push the branch, and
`deployments: write` to record rollouts.
`GITHUB_API_URL` (set by Actions, and by tests to a local stand-in) picks the API host.

Every answer but a 2xx is one GitHubError line (method, path, status, GitHub's message and `errors`):
redirects are never followed, so the token goes to the API host only and a POST is never replayed
elsewhere. Only connection failures are retried (httpx's transport): a POST that reached GitHub and
got a 5xx may have been applied, and a retry could open a second PR or comment.

What is "ours": the sticky comment is matched by its marker AND its author, the PR by its branch
prefix AND its author: the login GitHub shows for this token (`login`). A workflow's GITHUB_TOKEN
writes as `github-actions[bot]` (the default); a GitHub App's installation token as `<app-slug>[bot]`
and a personal token as its user: set MLOPS_GITHUB_LOGIN then (actions/create-github-app-token
outputs `app-slug`). It cannot be asked: installation tokens may not call GET /user, and GET /app
needs the App's JWT. A comment or PR created under another login fails loudly instead of being
duplicated on every run, and someone else's PR is never updated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import httpx

from ..errors import MlopsError

DEFAULT_API_URL = "https://api.github.com"
ACTIONS_LOGIN = "github-actions[bot]"  # the author of what a workflow's GITHUB_TOKEN writes
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_HINTS = {
    401: "token missing or invalid",
    403: "token lacks permission (the workflow needs `pull-requests: write` / `contents: write`) or rate limited",
    404: "not found: check the repository and the pull request number "
    "(GitHub also answers 404 to a token that cannot see the repository)",
    422: "validation failed",
}
_REDIRECT_HINT = "not followed: {location}; a renamed or moved repository? GITHUB_REPOSITORY names it"
_SERVER_HINT = "GitHub's side: re-run the job later (https://www.githubstatus.com)"


def run_url() -> str | None:
    """This workflow run's page, when running in GitHub Actions (or act)."""
    if run_id := os.environ.get("GITHUB_RUN_ID"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{os.environ.get('GITHUB_REPOSITORY')}/actions/runs/{run_id}"
    return None


def has_token() -> bool:
    """Whether a GitHub token is set: local runs (`make act-ci`) without one skip GitHub's steps."""
    return bool(os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN"))


class GitHubError(MlopsError):
    """A GitHub API call failed; str() names the request, the status, GitHub's message and a hint."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _details(errors: list) -> str:
    """GitHub's `errors[]`: a message, or resource/field/code (e.g. a head branch that does not exist)."""
    parts = []
    for item in errors:
        if isinstance(item, dict):
            where = ".".join(str(item[k]) for k in ("resource", "field") if item.get(k))
            parts.append(item.get("message") or f"{where} {item.get('code', '')}".strip())
        else:
            parts.append(str(item))
    return "; ".join(parts)


def _hint(response: httpx.Response) -> str:
    status = response.status_code
    if 300 <= status < 400:
        return _REDIRECT_HINT.format(location=response.headers.get("Location") or "no Location given")
    return _SERVER_HINT if status >= 500 else _HINTS.get(status, "")


def _describe(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    message = payload.get("message") or response.reason_phrase or response.text[:200]
    hint = _hint(response)
    if details := _details(payload.get("errors") or []):
        hint = f"{hint}: {details}" if hint else details
    request = response.request
    return _one_line(
        f"GitHub API {request.method} {request.url.path} answered {response.status_code}: {message}"
        + (f" ({hint})" if hint else "")
    )


class GitHub:
    """`with GitHub.from_env() as gh: gh.upsert_comment(...)`; every failure raises GitHubError."""

    def __init__(self, token: str, repository: str, api_url: str | None = None, login: str = ACTIONS_LOGIN) -> None:
        if not token:
            raise GitHubError("no GitHub token given (set GITHUB_TOKEN)")
        if not _REPOSITORY.match(repository or ""):
            raise GitHubError(f"repository {repository!r} is not of the form owner/name")
        self.repository = repository
        self.login = login  # who GitHub says wrote what this token writes (module docstring)
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self._token = token
        self._client = httpx.Client(
            base_url=self.api_url,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            timeout=httpx.Timeout(30.0, connect=10.0),
            transport=httpx.HTTPTransport(retries=2),  # retries connection errors only, never a sent POST
            follow_redirects=False,  # httpx's default, stated: a 3xx is reported, never followed
        )

    @property
    def token(self) -> str:
        """For git pushes to the same repository (callers must keep it out of logs and argv)."""
        return self._token

    @classmethod
    def from_env(cls) -> GitHub:
        """GITHUB_TOKEN (or GH_TOKEN), GITHUB_REPOSITORY and GITHUB_API_URL, as Actions sets them;
        MLOPS_GITHUB_LOGIN when the token is not the workflow's own (module docstring)."""
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        if not token:
            raise GitHubError("GITHUB_TOKEN is not set (nor GH_TOKEN): map secrets.GITHUB_TOKEN into env")
        repository = os.environ.get("GITHUB_REPOSITORY")
        if not repository:
            raise GitHubError("GITHUB_REPOSITORY is not set: expected owner/name")
        return cls(token, repository, login=os.environ.get("MLOPS_GITHUB_LOGIN") or ACTIONS_LOGIN)

    def __enter__(self) -> GitHub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            message = f"GitHub API {method} {httpx.URL(url).path}: could not reach {self.api_url}: {exc}"
            raise GitHubError(_one_line(message).replace(self._token, "***")) from None
        if not response.is_success:  # GitHub's message never holds the token; scrub anyway
            raise GitHubError(_describe(response).replace(self._token, "***"), response.status_code)
        return response

    def _data(self, response: httpx.Response):
        try:
            return response.json()
        except ValueError:
            request, text = response.request, _one_line(response.text[:120]).replace(self._token, "***")
            raise GitHubError(
                f"GitHub API {request.method} {request.url.path} answered {response.status_code} "
                f"with a body that is not JSON: {text!r} (a proxy in the way?)",
                response.status_code,
            ) from None

    def _json(self, method: str, path: str, body: dict) -> dict:
        return self._data(self._send(method, path, json=body))

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict]:
        """Every item of a list endpoint, following `Link: rel="next"` (absolute URLs, per_page=100)."""
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": 100}
        while url:
            response = self._send("GET", url, params=query)
            yield from self._data(response)
            url, query = response.links.get("next", {}).get("url"), None
            if url and not url.startswith(f"{self.api_url}/"):  # the token goes only to the API host
                raise GitHubError(f"GitHub API pagination link {url} leaves {self.api_url}")

    def _mine(self, item: dict) -> bool:
        """Written by this token's identity (logins are case-insensitive on GitHub)."""
        return str((item.get("user") or {}).get("login", "")).lower() == self.login.lower()

    def upsert_comment(self, pr_number: int, body: str, marker: str) -> dict:
        """Create or edit the one comment on the PR that carries `<!-- marker -->` and is ours: anyone
        can paste the marker into a comment, and someone else's comment is never edited.

        Returns the comment JSON plus "action": "created" or "updated".
        """
        tag = f"<!-- {marker} -->"
        text = body if tag in body else f"{tag}\n{body}"
        repo = f"/repos/{self.repository}"
        comments = self._pages(f"{repo}/issues/{pr_number}/comments", {})
        existing = next((c for c in comments if tag in (c.get("body") or "") and self._mine(c)), None)
        if existing:
            comment = self._json("PATCH", f"{repo}/issues/comments/{existing['id']}", {"body": text})
            return {**comment, "action": "updated"}
        comment = self._json("POST", f"{repo}/issues/{pr_number}/comments", {"body": text})
        self._check_mine(comment, "comment")
        return {**comment, "action": "created"}

    def _check_mine(self, item: dict, what: str) -> None:
        """What this token just wrote must be found as ours on the next run, or that run adds another."""
        if not self._mine(item):
            author = (item.get("user") or {}).get("login")
            raise GitHubError(
                f"GitHub wrote {what} {item.get('html_url')} as {author!r}, but this client looks its own up "
                f"as {self.login!r}: set MLOPS_GITHUB_LOGIN={author} for this token"
            )

    def find_open_pr(self, head_prefix: str, base: str) -> dict | None:
        """Our open PR into `base` from a branch of this repository starting with `head_prefix` (the
        newest if several), or None. CT pushes to its `["head"]["ref"]` when there is one.

        Ours: opened by this token's identity (`login`). Such a PR opened by someone else is never
        updated, and fails loudly: a new PR beside it would break "one PR", and pushing a branch of the
        same name would overwrite their work."""
        pulls = self._pages(f"/repos/{self.repository}/pulls", {"state": "open", "base": base})
        matches = [
            pr
            for pr in pulls
            if pr["head"]["ref"].startswith(head_prefix)
            # A fork's PR can use the same branch name; it is not ours to update.
            and ((pr["head"].get("repo") or {}).get("full_name") or "").lower() == self.repository.lower()
        ]
        mine = [pr for pr in matches if self._mine(pr)]
        if mine or not matches:
            return max(mine, key=lambda pr: pr["number"], default=None)
        other = max(matches, key=lambda pr: pr["number"])
        author = (other.get("user") or {}).get("login")
        raise GitHubError(
            f"PR #{other['number']} from {other['head']['ref']} was opened by {author!r}, not by {self.login!r} "
            f"(this token): close it or rename its branch, or set MLOPS_GITHUB_LOGIN={author} if it is this token's"
        )

    def open_or_update_pr(self, head: str, base: str, title: str, body: str, head_prefix: str) -> dict:
        """Keep exactly one open PR from `head_prefix*` branches: edit it, or open one from `head`.

        Returns the PR JSON plus "action" ("created" / "updated") and "branch": the PR's head branch.
        When a PR was already open, "branch" is ITS branch, which may differ from `head`: the caller
        should have pushed there (call find_open_pr first to choose the branch to push).
        """
        repo = f"/repos/{self.repository}"
        existing = self.find_open_pr(head_prefix, base)
        if existing:
            pr = self._json("PATCH", f"{repo}/pulls/{existing['number']}", {"title": title, "body": body})
            return {**pr, "action": "updated", "branch": existing["head"]["ref"]}
        pr = self._json("POST", f"{repo}/pulls", {"head": head, "base": base, "title": title, "body": body})
        self._check_mine(pr, "PR")
        return {**pr, "action": "created", "branch": head}

    def create_deployment(self, ref: str, environment: str, description: str, payload: dict) -> dict:
        """A Deployment of `ref` in `environment` (the repository's Environments page lists it).

        No required status contexts and no auto-merge: CD runs after CI on the merged commit.
        """
        body = {
            "ref": ref,
            "environment": environment,
            "description": description[:140],
            "payload": payload,
            "auto_merge": False,
            "required_contexts": [],
        }
        return self._json("POST", f"/repos/{self.repository}/deployments", body)

    def create_deployment_status(self, deployment_id: int, state: str, description: str, **urls: str) -> dict:
        """A status (in_progress, success, failure, inactive...) of a Deployment; `urls`: log_url,
        environment_url. GitHub keeps each status, so the page shows the rollout's history."""
        body = {"state": state, "description": description[:140], **{k: v for k, v in urls.items() if v}}
        return self._json("POST", f"/repos/{self.repository}/deployments/{deployment_id}/statuses", body)
