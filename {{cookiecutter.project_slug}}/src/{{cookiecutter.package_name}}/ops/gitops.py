"""A small GitHub REST API client for the workflows: one sticky PR comment per marker (CI reports),
one open retraining PR (CT) and a Deployment with statuses for every rollout (CD).

The token needs `pull-requests: write` (comments, PRs), `contents: write` to push the branch, and
`deployments: write` to record rollouts.
`GITHUB_API_URL` (set by Actions, and by tests to a local stand-in) picks the API host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import httpx

from .errors import MlopsError

DEFAULT_API_URL = "https://api.github.com"
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_HINTS = {
    401: "token missing or invalid",
    403: "token lacks permission (the workflow needs `pull-requests: write` / `contents: write`) or rate limited",
    404: "not found: check the repository and the pull request number "
    "(GitHub also answers 404 to a token that cannot see the repository)",
    422: "validation failed",
}


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


def _describe(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    message = payload.get("message") or response.reason_phrase or response.text[:200]
    hint = _HINTS.get(response.status_code, "")
    if details := _details(payload.get("errors") or []):
        hint = f"{hint}: {details}" if hint else details
    request = response.request
    return _one_line(
        f"GitHub API {request.method} {request.url.path} answered {response.status_code}: {message}"
        + (f" ({hint})" if hint else "")
    )


class GitHub:
    """`with GitHub.from_env() as gh: gh.upsert_comment(...)`; every failure raises GitHubError."""

    def __init__(self, token: str, repository: str, api_url: str | None = None) -> None:
        if not token:
            raise GitHubError("no GitHub token given (set GITHUB_TOKEN)")
        if not _REPOSITORY.match(repository or ""):
            raise GitHubError(f"repository {repository!r} is not of the form owner/name")
        self.repository = repository
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
        )

    @property
    def token(self) -> str:
        """For git pushes to the same repository (callers must keep it out of logs)."""
        return self._token

    @classmethod
    def from_env(cls) -> GitHub:
        """GITHUB_TOKEN (or GH_TOKEN), GITHUB_REPOSITORY and GITHUB_API_URL, as Actions sets them."""
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
        if not token:
            raise GitHubError("GITHUB_TOKEN is not set (nor GH_TOKEN): map secrets.GITHUB_TOKEN into env")
        repository = os.environ.get("GITHUB_REPOSITORY")
        if not repository:
            raise GitHubError("GITHUB_REPOSITORY is not set: expected owner/name")
        return cls(token, repository)

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
        if response.is_error:  # GitHub's message never holds the token; scrub anyway
            raise GitHubError(_describe(response).replace(self._token, "***"), response.status_code)
        return response

    def _json(self, method: str, path: str, body: dict) -> dict:
        return self._send(method, path, json=body).json()

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict]:
        """Every item of a list endpoint, following `Link: rel="next"` (absolute URLs, per_page=100)."""
        url: str | None = path
        query: dict[str, Any] | None = {**params, "per_page": 100}
        while url:
            response = self._send("GET", url, params=query)
            yield from response.json()
            url, query = response.links.get("next", {}).get("url"), None
            if url and not url.startswith(f"{self.api_url}/"):  # the token goes only to the API host
                raise GitHubError(f"GitHub API pagination link {url} leaves {self.api_url}")

    def upsert_comment(self, pr_number: int, body: str, marker: str) -> dict:
        """Create or edit the one comment on the PR that carries `<!-- marker -->`.

        Returns the comment JSON plus "action": "created" or "updated".
        """
        tag = f"<!-- {marker} -->"
        text = body if tag in body else f"{tag}\n{body}"
        repo = f"/repos/{self.repository}"
        comments = self._pages(f"{repo}/issues/{pr_number}/comments", {})
        existing = next((c for c in comments if tag in (c.get("body") or "")), None)
        if existing:
            comment = self._json("PATCH", f"{repo}/issues/comments/{existing['id']}", {"body": text})
            return {**comment, "action": "updated"}
        comment = self._json("POST", f"{repo}/issues/{pr_number}/comments", {"body": text})
        return {**comment, "action": "created"}

    def find_open_pr(self, head_prefix: str, base: str) -> dict | None:
        """The open PR into `base` from a branch of this repository starting with `head_prefix`
        (the newest if several), or None. CT pushes to its `["head"]["ref"]` when there is one."""
        pulls = self._pages(f"/repos/{self.repository}/pulls", {"state": "open", "base": base})
        matches = [
            pr
            for pr in pulls
            if pr["head"]["ref"].startswith(head_prefix)
            # A fork's PR can use the same branch name; it is not ours to update.
            and ((pr["head"].get("repo") or {}).get("full_name") or "").lower() == self.repository.lower()
        ]
        return max(matches, key=lambda pr: pr["number"], default=None)

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
