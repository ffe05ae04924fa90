"""ops/gitops.py against a local stand-in for GitHub's REST API (pytest-httpserver on 127.0.0.1)."""

import json
import socket

import pytest

from {{ cookiecutter.package_name }}.ops.gitops import DEFAULT_API_URL, GitHub, GitHubError

TOKEN = "ghs_" + "T0kenThatMustNeverBeShown" * 2
REPO = "acme/proj"
EXISTS = "A pull request already exists"


@pytest.fixture(scope="session")
def httpserver_listen_address():
    return ("127.0.0.1", 0)


@pytest.fixture(scope="module")
def gh(make_httpserver):
    """One client for the module: building its TLS context costs ~50 ms. Tests take `httpserver`
    too, which clears the stand-in's handlers and log."""
    with GitHub(TOKEN, REPO, api_url=make_httpserver.url_for("/").rstrip("/")) as client:
        yield client


def requests(httpserver) -> list[tuple[str, str, dict, object]]:
    """(method, path, query, JSON body) of each request the stand-in received, in order."""
    return [
        (req.method, req.path, req.args.to_dict(), json.loads(req.get_data()) if req.get_data() else None)
        for req, _ in httpserver.log
    ]


def pr(number: int, ref: str, repo: str = REPO) -> dict:
    return {"number": number, "head": {"ref": ref, "repo": {"full_name": repo}}, "base": {"ref": "main"}}


def test_upsert_creates_then_updates_the_same_comment(httpserver, gh):
    comments = "/repos/acme/proj/issues/7/comments"
    httpserver.expect_oneshot_request(comments, method="GET").respond_with_json([{"id": 3, "body": "LGTM"}])
    httpserver.expect_oneshot_request(comments, method="POST").respond_with_json(
        {"id": 11, "body": "<!-- mlops-report -->\nrmse 1.0"}, status=201
    )
    created = gh.upsert_comment(7, "rmse 1.0", "mlops-report")
    assert (created["action"], created["id"]) == ("created", 11)

    httpserver.expect_oneshot_request(comments, method="GET").respond_with_json(
        [{"id": 3, "body": "LGTM"}, {"id": 11, "body": "<!-- mlops-report -->\nrmse 1.0"}]
    )
    httpserver.expect_oneshot_request("/repos/acme/proj/issues/comments/11", method="PATCH").respond_with_json(
        {"id": 11, "body": "<!-- mlops-report -->\nrmse 0.9"}
    )
    updated = gh.upsert_comment(7, "<!-- mlops-report -->\nrmse 0.9", "mlops-report")
    assert (updated["action"], updated["id"]) == ("updated", 11)

    assert requests(httpserver) == [
        ("GET", comments, {"per_page": "100"}, None),
        ("POST", comments, {}, {"body": "<!-- mlops-report -->\nrmse 1.0"}),
        ("GET", comments, {"per_page": "100"}, None),
        # The marker already in the body is not added twice.
        ("PATCH", "/repos/acme/proj/issues/comments/11", {}, {"body": "<!-- mlops-report -->\nrmse 0.9"}),
    ]
    for req, _ in httpserver.log:
        assert req.headers["Authorization"] == f"Bearer {TOKEN}"
        assert req.headers["Accept"] == "application/vnd.github+json"
        assert req.headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_upsert_follows_pagination(httpserver, gh):
    # GitHub's next links are absolute and may use /repositories/{id}/... paths.
    page2 = httpserver.url_for("/repositories/1/issues/7/comments") + "?per_page=100&page=2"
    httpserver.expect_oneshot_request("/repos/acme/proj/issues/7/comments").respond_with_json(
        [{"id": n, "body": "chatter"} for n in range(100)], headers={"Link": f'<{page2}>; rel="next"'}
    )
    httpserver.expect_oneshot_request("/repositories/1/issues/7/comments").respond_with_json(
        [{"id": 500, "body": "before\n<!-- drift -->\nold"}]
    )
    httpserver.expect_oneshot_request("/repos/acme/proj/issues/comments/500", method="PATCH").respond_with_json(
        {"id": 500}
    )
    assert gh.upsert_comment(7, "new", "drift")["action"] == "updated"
    assert requests(httpserver) == [
        ("GET", "/repos/acme/proj/issues/7/comments", {"per_page": "100"}, None),
        ("GET", "/repositories/1/issues/7/comments", {"per_page": "100", "page": "2"}, None),
        ("PATCH", "/repos/acme/proj/issues/comments/500", {}, {"body": "<!-- drift -->\nnew"}),
    ]


def test_pagination_never_sends_the_token_elsewhere(httpserver, gh):
    httpserver.expect_request("/repos/acme/proj/issues/7/comments").respond_with_json(
        [], headers={"Link": '<https://elsewhere.example/page2>; rel="next"'}
    )
    with pytest.raises(GitHubError, match="leaves"):
        gh.upsert_comment(7, "x", "m")
    assert len(httpserver.log) == 1


def test_open_or_update_pr_creates_when_none_is_open(httpserver, gh):
    open_prs = [pr(1, "feature/login"), pr(2, "retrain/2026-01-01", repo="someone/proj")]  # a fork's
    httpserver.expect_request("/repos/acme/proj/pulls", method="GET").respond_with_json(open_prs)
    httpserver.expect_request("/repos/acme/proj/pulls", method="POST").respond_with_json(
        pr(9, "retrain/run-5") | {"html_url": "https://github.com/acme/proj/pull/9"}, status=201
    )
    result = gh.open_or_update_pr("retrain/run-5", "main", "Retrain", "metrics", head_prefix="retrain/")
    assert (result["action"], result["number"], result["branch"]) == ("created", 9, "retrain/run-5")
    assert requests(httpserver) == [
        ("GET", "/repos/acme/proj/pulls", {"state": "open", "base": "main", "per_page": "100"}, None),
        (
            "POST",
            "/repos/acme/proj/pulls",
            {},
            {"head": "retrain/run-5", "base": "main", "title": "Retrain", "body": "metrics"},
        ),
    ]


def test_open_or_update_pr_updates_the_open_retrain_pr(httpserver, gh):
    httpserver.expect_request("/repos/acme/proj/pulls", method="GET").respond_with_json(
        [pr(4, "feature/retrain-docs"), pr(3, "retrain/run-1")]
    )
    httpserver.expect_request("/repos/acme/proj/pulls/3", method="PATCH").respond_with_json(pr(3, "retrain/run-1"))
    assert gh.find_open_pr("retrain/", "main")["number"] == 3
    result = gh.open_or_update_pr("retrain/run-5", "main", "Retrain 5", "better", head_prefix="retrain/")
    # The caller's branch differs: "branch" tells it where the open PR lives.
    assert (result["action"], result["number"], result["branch"]) == ("updated", 3, "retrain/run-1")
    assert requests(httpserver)[-1] == (
        "PATCH",
        "/repos/acme/proj/pulls/3",
        {},
        {"title": "Retrain 5", "body": "better"},
    )
    assert "POST" not in [method for method, *_ in requests(httpserver)]


@pytest.mark.parametrize(
    ("status", "message", "hint"),
    [
        (401, "Bad credentials", "token missing or invalid"),
        (403, "Resource not accessible by integration", "`pull-requests: write`"),
        (404, "Not Found", "not found"),
    ],
)
def test_http_errors_name_request_status_and_hint(httpserver, gh, status, message, hint):
    httpserver.expect_request("/repos/acme/proj/issues/7/comments").respond_with_json(
        {"message": message, "documentation_url": "https://docs.github.com/rest"}, status=status
    )
    with pytest.raises(GitHubError) as caught:
        gh.upsert_comment(7, "x", "m")
    text = str(caught.value)
    assert caught.value.status == status
    assert f"GET /repos/acme/proj/issues/7/comments answered {status}: {message}" in text
    assert hint in text and "\n" not in text and TOKEN not in text


@pytest.mark.parametrize(
    ("errors", "detail"),
    [
        (
            [{"resource": "PullRequest", "code": "custom", "message": f"{EXISTS} for acme:retrain/x."}],
            f"{EXISTS} for acme:retrain/x.",
        ),
        ([{"resource": "PullRequest", "field": "head", "code": "invalid"}], "PullRequest.head invalid"),
    ],
)
def test_422_reports_githubs_errors(httpserver, gh, errors, detail):
    httpserver.expect_request("/repos/acme/proj/pulls", method="GET").respond_with_json([])
    httpserver.expect_request("/repos/acme/proj/pulls", method="POST").respond_with_json(
        {
            "message": "Validation Failed",
            "errors": errors,
            "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request",
        },
        status=422,
    )
    with pytest.raises(GitHubError) as caught:
        gh.open_or_update_pr("retrain/x", "main", "t", "b", head_prefix="retrain/")
    text = str(caught.value)
    assert caught.value.status == 422
    assert "POST /repos/acme/proj/pulls answered 422: Validation Failed (validation failed: " in text
    assert detail in text and TOKEN not in text


def test_token_echoed_by_the_server_is_scrubbed(httpserver, gh):
    echo = {"message": f"bad {TOKEN}"}
    httpserver.expect_request("/repos/acme/proj/pulls").respond_with_json(echo, status=401)
    with pytest.raises(GitHubError, match=r"bad \*\*\*") as caught:
        gh.find_open_pr("retrain/", "main")
    assert TOKEN not in str(caught.value)


def test_non_json_error_body(httpserver, gh):
    httpserver.expect_request("/repos/acme/proj/pulls").respond_with_data("<html>bad gateway</html>", status=502)
    with pytest.raises(GitHubError, match="(?i)answered 502: Bad Gateway"):
        gh.find_open_pr("retrain/", "main")


def test_unreachable_api_is_one_clear_error():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = GitHub(TOKEN, REPO, api_url=f"http://127.0.0.1:{port}")
    with client, pytest.raises(GitHubError) as caught:
        client.find_open_pr("retrain/", "main")  # transport retries twice (~0.5 s), then gives up
    assert f"could not reach http://127.0.0.1:{port}" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("repository", ["proj", "acme/proj/extra", "acme/", ""])
def test_repository_must_be_owner_slash_name(repository):
    with pytest.raises(GitHubError, match="owner/name"):
        GitHub(TOKEN, repository)


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"GITHUB_REPOSITORY": REPO}, "GITHUB_TOKEN"),
        ({"GITHUB_TOKEN": "", "GITHUB_REPOSITORY": REPO}, "GITHUB_TOKEN"),
        ({"GITHUB_TOKEN": TOKEN}, "GITHUB_REPOSITORY"),
    ],
)
def test_from_env_names_the_missing_variable(monkeypatch, env, missing):
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(GitHubError, match=missing) as caught:
        GitHub.from_env()
    assert TOKEN not in str(caught.value)


def test_from_env_honours_gh_token_and_github_api_url(httpserver, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("/api/v3"))  # GitHub Enterprise style
    httpserver.expect_request("/api/v3/repos/acme/proj/pulls").respond_with_json([])
    with GitHub.from_env() as client:
        assert client.find_open_pr("retrain/", "main") is None
    ((req, _),) = httpserver.log
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"


def test_api_url_defaults_to_github(monkeypatch):
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    with GitHub(TOKEN, REPO) as client:
        assert client.api_url == DEFAULT_API_URL == "https://api.github.com"
