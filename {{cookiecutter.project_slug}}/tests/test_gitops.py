"""ops/gitops/github.py and ops/gitops/propose.py against local stand-ins (pytest-httpserver on 127.0.0.1): GitHub's
REST API, and a git server (git http-backend) that refuses a push without the token's header."""

import base64
import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner
from werkzeug import Response

from {{ cookiecutter.package_name }}.ops.cli import app
from {{ cookiecutter.package_name }}.ops.errors import MlopsError
from {{ cookiecutter.package_name }}.ops.gitops import git as git_module
from {{ cookiecutter.package_name }}.ops.gitops import propose as propose_module
from {{ cookiecutter.package_name }}.ops.gitops.github import ACTIONS_LOGIN, DEFAULT_API_URL, GitHub, GitHubError

TOKEN = "ghs_" + "T0kenThatMustNeverBeShown" * 2
REPO = "acme/proj"
EXISTS = "A pull request already exists"
BOT = {"login": ACTIONS_LOGIN, "type": "Bot"}  # the author of what GITHUB_TOKEN writes


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


def pr(number: int, ref: str, repo: str = REPO, login: str = ACTIONS_LOGIN) -> dict:
    head = {"ref": ref, "repo": {"full_name": repo}}
    return {"number": number, "user": {"login": login}, "head": head, "base": {"ref": "main"}}


def github_env(monkeypatch, httpserver, **more: str) -> None:
    """The variables a workflow step has, pointed at the stand-in."""
    api = httpserver.url_for("/").rstrip("/")
    for name, value in {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": REPO, "GITHUB_API_URL": api, **more}.items():
        monkeypatch.setenv(name, value)


def comment(cid: int, body: str, login: str = ACTIONS_LOGIN, kind: str = "Bot") -> dict:
    url = f"https://github.com/{REPO}/pull/7#issuecomment-{cid}"
    return {"id": cid, "body": body, "user": {"login": login, "type": kind}, "html_url": url}


def test_upsert_creates_then_updates_the_same_comment(httpserver, gh):
    comments = "/repos/acme/proj/issues/7/comments"
    httpserver.expect_oneshot_request(comments, method="GET").respond_with_json([comment(3, "LGTM", "octocat")])
    httpserver.expect_oneshot_request(comments, method="POST").respond_with_json(
        comment(11, "<!-- mlops-report -->\nrmse 1.0"), status=201
    )
    created = gh.upsert_comment(7, "rmse 1.0", "mlops-report")
    assert (created["action"], created["id"]) == ("created", 11)

    httpserver.expect_oneshot_request(comments, method="GET").respond_with_json(
        [comment(3, "LGTM", "octocat"), comment(11, "<!-- mlops-report -->\nrmse 1.0")]
    )
    httpserver.expect_oneshot_request("/repos/acme/proj/issues/comments/11", method="PATCH").respond_with_json(
        comment(11, "<!-- mlops-report -->\nrmse 0.9")
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
        [comment(500, "before\n<!-- drift -->\nold")]
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


def test_a_marked_comment_by_someone_else_is_never_edited(httpserver, gh):
    """Anyone can paste the marker: only the token's own comment (login and marker) is updated."""
    comments = "/repos/acme/proj/issues/7/comments"
    pasted = "<!-- mlops-report -->\nfake: all green"
    httpserver.expect_request(comments, method="GET").respond_with_json(
        [comment(3, pasted, "mallory", "User"), comment(4, pasted, "other-app[bot]")]
    )
    httpserver.expect_request(comments, method="POST").respond_with_json(
        comment(12, "<!-- mlops-report -->\nrmse 1.0"), status=201
    )
    assert gh.upsert_comment(7, "rmse 1.0", "mlops-report")["action"] == "created"
    assert [method for method, *_ in requests(httpserver)] == ["GET", "POST"]  # no PATCH of #3 or #4


def test_an_apps_token_updates_the_apps_comment(httpserver, monkeypatch):
    """MLOPS_GITHUB_LOGIN names the App's bot: its comment is ours, github-actions' is not."""
    comments = "/repos/acme/proj/issues/7/comments"
    httpserver.expect_request(comments, method="GET").respond_with_json(
        [comment(5, "<!-- m -->\nby actions"), comment(6, "<!-- m -->\nby the app", "Retrain-Bot[bot]")]
    )
    httpserver.expect_request("/repos/acme/proj/issues/comments/6", method="PATCH").respond_with_json(
        comment(6, "<!-- m -->\nnew", "retrain-bot[bot]")
    )
    github_env(monkeypatch, httpserver, MLOPS_GITHUB_LOGIN="retrain-bot[bot]")
    with GitHub.from_env() as client:
        assert client.upsert_comment(7, "new", "m")["id"] == 6  # logins compare case-insensitively


def test_a_comment_created_under_another_login_is_one_clear_error(httpserver, gh):
    """Found next time it would not be: fail now, naming the login to configure."""
    comments = "/repos/acme/proj/issues/7/comments"
    httpserver.expect_request(comments, method="GET").respond_with_json([])
    httpserver.expect_request(comments, method="POST").respond_with_json(
        comment(13, "<!-- m -->\nx", "someone"), status=201
    )
    with pytest.raises(GitHubError) as caught:
        gh.upsert_comment(7, "x", "m")
    text = str(caught.value)
    assert "as 'someone'" in text and "MLOPS_GITHUB_LOGIN=someone" in text and "\n" not in text


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


def test_a_retrain_pr_opened_by_someone_else_is_never_taken_over(httpserver, gh):
    """Their branch is theirs: no PATCH, no second PR beside it, and one line saying what to do."""
    httpserver.expect_request("/repos/acme/proj/pulls", method="GET").respond_with_json(
        [pr(5, "retrain/2026-12-01", login="alice")]
    )
    with pytest.raises(GitHubError) as caught:
        gh.open_or_update_pr("retrain/2026-12-02", "main", "t", "b", head_prefix="retrain/")
    text = str(caught.value)
    assert "PR #5 from retrain/2026-12-01 was opened by 'alice', not by 'github-actions[bot]'" in text
    assert "MLOPS_GITHUB_LOGIN=alice" in text and "\n" not in text
    assert [method for method, *_ in requests(httpserver)] == ["GET"]


def test_our_retrain_pr_is_updated_beside_someone_elses(httpserver, gh):
    httpserver.expect_request("/repos/acme/proj/pulls", method="GET").respond_with_json(
        [pr(6, "retrain/theirs", login="alice"), pr(5, "retrain/ours")]
    )
    assert gh.find_open_pr("retrain/", "main")["number"] == 5


def test_a_pr_github_opens_under_another_login_fails_loudly(httpserver, gh):
    """An App's token without MLOPS_GITHUB_LOGIN: the next run would not find the PR as ours."""
    httpserver.expect_request("/repos/acme/proj/pulls", method="GET").respond_with_json([])
    httpserver.expect_request("/repos/acme/proj/pulls", method="POST").respond_with_json(
        pr(9, "retrain/x", login="retrain-bot[bot]") | {"html_url": "https://github.com/acme/proj/pull/9"}, status=201
    )
    with pytest.raises(GitHubError) as caught:
        gh.open_or_update_pr("retrain/x", "main", "t", "b", head_prefix="retrain/")
    text = str(caught.value)
    assert "wrote PR https://github.com/acme/proj/pull/9 as 'retrain-bot[bot]'" in text
    assert "MLOPS_GITHUB_LOGIN=retrain-bot[bot]" in text


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_is_one_clear_error_and_never_followed(httpserver, gh, status):
    moved = httpserver.url_for("/repositories/42/pulls")  # even on the same host: a POST must not replay
    httpserver.expect_request("/repos/acme/proj/pulls").respond_with_json(
        {"message": "Moved Permanently", "url": moved}, status=status, headers={"Location": moved}
    )
    with pytest.raises(GitHubError) as caught:
        gh.find_open_pr("retrain/", "main")
    text = str(caught.value)
    assert caught.value.status == status and f"GET /repos/acme/proj/pulls answered {status}" in text
    assert f"not followed: {moved}" in text and "GITHUB_REPOSITORY" in text and "\n" not in text
    assert [req.path for req, _ in httpserver.log] == ["/repos/acme/proj/pulls"]


@pytest.mark.parametrize(("status", "message"), [(500, "Server Error"), (503, "Service Unavailable")])
def test_a_server_error_is_one_clear_error(httpserver, gh, status, message):
    httpserver.expect_request("/repos/acme/proj/pulls").respond_with_json({"message": message}, status=status)
    with pytest.raises(GitHubError) as caught:
        gh.find_open_pr("retrain/", "main")
    text = str(caught.value)
    assert f"GET /repos/acme/proj/pulls answered {status}: {message} (GitHub's side: re-run" in text
    assert len(httpserver.log) == 1  # not retried: a POST that got a 5xx may have been applied


def test_a_success_that_is_not_json_is_one_clear_error(httpserver, gh):
    httpserver.expect_request("/repos/acme/proj/pulls").respond_with_data("<html>login portal</html>", status=200)
    with pytest.raises(GitHubError, match=r"GET /repos/acme/proj/pulls answered 200 with a body that is not JSON"):
        gh.find_open_pr("retrain/", "main")


def test_the_cli_reports_a_redirect_in_one_line_without_a_traceback(httpserver, monkeypatch):
    """`mlops comment` as CI runs it: exit 2 and one `error:` line (a 3xx used to crash in .json())."""
    moved = httpserver.url_for("/repositories/42/issues/7/comments")
    httpserver.expect_request("/repos/acme/proj/issues/7/comments").respond_with_data(
        "", status=301, headers={"Location": moved}
    )
    github_env(monkeypatch, httpserver)
    result = CliRunner().invoke(app, ["comment", "--pr", "7", "--body", "x"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("error: GitHub API GET /repos/acme/proj/issues/7/comments answered 301")
    assert "Traceback" not in result.output and TOKEN not in result.output


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
    monkeypatch.delenv("MLOPS_GITHUB_LOGIN", raising=False)
    monkeypatch.setenv("GH_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_REPOSITORY", REPO)
    monkeypatch.setenv("GITHUB_API_URL", httpserver.url_for("/api/v3"))  # GitHub Enterprise style
    httpserver.expect_request("/api/v3/repos/acme/proj/pulls").respond_with_json([])
    with GitHub.from_env() as client:
        assert client.find_open_pr("retrain/", "main") is None
        assert client.login == ACTIONS_LOGIN  # the workflow's own token, unless told otherwise
    ((req, _),) = httpserver.log
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"


def test_api_url_defaults_to_github(monkeypatch):
    monkeypatch.delenv("GITHUB_API_URL", raising=False)
    with GitHub(TOKEN, REPO) as client:
        assert client.api_url == DEFAULT_API_URL == "https://api.github.com"


# ----- propose: the push -------------------------------------------------------------------------


def git(*args: str, cwd: Path) -> str:
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args]
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def serve_git(httpserver, root: Path, authorization: str) -> None:
    """Smart HTTP for the bare repositories under `root` (git http-backend as CGI), 401 for any
    request without `authorization`, as GitHub refuses a push without the token."""

    def handle(request):
        if request.headers.get("Authorization", "").lower() != authorization.lower():
            return Response("token required", 401, {"WWW-Authenticate": 'Basic realm="git"'})
        cgi = {
            "PATH": os.environ["PATH"],
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REMOTE_USER": "x-access-token",  # http-backend serves pushes to an authenticated user only
            "REQUEST_METHOD": request.method,
            "PATH_INFO": request.path,
            "QUERY_STRING": request.query_string.decode(),
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "HTTP_CONTENT_ENCODING": request.headers.get("Content-Encoding", ""),
        }
        out = subprocess.run(
            ["git", "http-backend"], input=request.get_data(), env=cgi, capture_output=True, check=True
        )
        head, _, body = out.stdout.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().splitlines())
        return Response(body, int(headers.pop("Status", "200").split()[0]), headers)

    httpserver.expect_request(re.compile(r"^/acme/proj\.git/")).respond_with_handler(handle)


def test_propose_pushes_with_a_header_and_never_puts_the_token_in_argv(httpserver, gh, tmp_path, monkeypatch):
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    bare, work = tmp_path / "srv" / "acme" / "proj.git", tmp_path / "work"
    bare.parent.mkdir(parents=True)
    git("init", "-q", "--bare", str(bare), cwd=tmp_path)
    git("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    (work / "metrics.json").write_text('{"roc_auc": 0.9}\n')
    git("add", "-A", cwd=work)
    git("commit", "-qm", "one", cwd=work)
    (work / "metrics.json").write_text('{"roc_auc": 0.95}\n')
    serve_git(httpserver, tmp_path / "srv", f"basic {basic}")
    server = httpserver.url_for("/").rstrip("/")
    httpserver.expect_request("/repos/acme/proj/pulls", method="GET").respond_with_json([])
    httpserver.expect_request("/repos/acme/proj/pulls", method="POST").respond_with_json(
        pr(5, "retrain/x") | {"html_url": f"https://github.com/{REPO}/pull/5"}, status=201
    )
    monkeypatch.setenv("GITHUB_SERVER_URL", server)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.chdir(work)
    real_run, argv = subprocess.run, []

    def spy(cmd, *args, **kwargs):
        argv.append([str(part) for part in cmd])
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(git_module.subprocess, "run", spy)  # every git call of ops/gitops runs there
    result = propose_module.propose(gh, ["metrics.json"], "main", "retrain/", "Retrain", "metrics")
    monkeypatch.setattr(git_module.subprocess, "run", real_run)

    branch = result["branch"]
    assert git("rev-parse", f"refs/heads/{branch}", cwd=bare) == git("rev-parse", "HEAD", cwd=work)  # it landed
    (push,) = [cmd for cmd in argv if cmd[:2] == ["git", "push"]]
    assert push == ["git", "push", "--force", f"{server}/acme/proj.git", f"HEAD:refs/heads/{branch}"]
    assert not [cmd for cmd in argv if TOKEN in " ".join(cmd) or basic in " ".join(cmd)]
    # The server does check: without the header the same remote refuses, with no prompt.
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    refused = real_run(["git", "ls-remote", f"{server}/acme/proj.git"], env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and 401 in [answer.status_code for _, answer in httpserver.log]


def test_a_failing_git_call_is_one_line_naming_it_with_secrets_masked(tmp_path):
    git("init", "-q", str(tmp_path), cwd=tmp_path)
    with pytest.raises(MlopsError) as caught:
        git_module.git("checkout", TOKEN, cwd=tmp_path, secrets=(TOKEN,))
    text = str(caught.value)
    assert text == f"git checkout failed in {tmp_path}: error: pathspec '***' did not match any file(s) known to git"


def test_the_push_header_is_added_after_the_callers_git_config_entries(monkeypatch):
    """A caller's own GIT_CONFIG_* entries (test_workflows' url.<bare>.insteadOf) still apply."""
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example.com/")
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "url./tmp/bare.git.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "https://github.example.com/acme/proj.git")
    env = propose_module.push_env(TOKEN)
    assert env["GIT_CONFIG_COUNT"] == "2" and env["GIT_CONFIG_KEY_0"] == "url./tmp/bare.git.insteadOf"
    assert env["GIT_CONFIG_KEY_1"] == "http.https://github.example.com/.extraheader"
    header = env["GIT_CONFIG_VALUE_1"].removeprefix("AUTHORIZATION: basic ")
    assert base64.b64decode(header).decode() == f"x-access-token:{TOKEN}"
