"""The GitHub stand-in (tests/github_standin.py) itself: the project's real client (ops/gitops/github.py of a
bake) against it, and raw requests it must refuse as GitHub does. Fast: no act, no venv of its own.
"""

from __future__ import annotations

import importlib
import sys
import types

import httpx
import pytest
from github_standin import API_VERSIONS, GitHubStandIn
from helpers import TEMPLATE_PROJECT, run

REPO = "acme/proj"
TOKEN = "ghs_" + "s3cr3t" * 7
HEADERS = {"Authorization": f"Bearer {TOKEN}", "X-GitHub-Api-Version": min(API_VERSIONS)}


@pytest.fixture(scope="module")
def gitops():
    """The template's ops/gitops/github.py (no Jinja in it or in ops/errors.py, so its source is what every
    bake gets), imported as `standin_client.gitops.github` without the rest of the package."""
    package = types.ModuleType("standin_client")
    package.__path__ = [str(TEMPLATE_PROJECT / "src" / "{{cookiecutter.package_name}}" / "ops")]
    sys.modules["standin_client"] = package
    try:
        yield importlib.import_module("standin_client.gitops.github")
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "standin_client"]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    """A bare repository with `main`, `feature` (one commit ahead), `merged` (= main), tag v1."""
    root = tmp_path_factory.mktemp("standin-remote")
    bare, work = root / "remote.git", root / "work"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    run(["git", "init", "-q", "--bare", bare], root)
    run(["git", "init", "-q", "-b", "main", work], root)
    (work / "a.txt").write_text("a\n")
    run([*git, "add", "-A"], work)
    run([*git, "commit", "-qm", "one"], work)
    run(["git", "branch", "merged"], work)
    run(["git", "tag", "v1"], work)
    run(["git", "checkout", "-qb", "feature"], work)
    (work / "a.txt").write_text("b\n")
    run([*git, "commit", "-qam", "two"], work)
    for ref in ("main", "merged", "feature", "retrain/old"):
        source = "feature" if ref == "retrain/old" else ref
        run(["git", "push", "-q", bare, f"{source}:refs/heads/{ref}"], work)
    run(["git", "push", "-q", bare, "v1"], work)
    return bare


@pytest.fixture
def standin(remote):
    github = GitHubStandIn(REPO, remote, token=TOKEN)
    with github.serve() as url:
        github.url = url
        yield github
    github.assert_clean()


@pytest.fixture
def api(standin):
    with httpx.Client(base_url=f"{standin.url}/repos/{REPO}", headers=HEADERS, timeout=10) as client:
        yield client


@pytest.fixture
def gh(gitops, standin):
    with gitops.GitHub(TOKEN, REPO, api_url=standin.url) as client:
        yield client


def message(response: httpx.Response) -> str:
    data = response.json()
    return data["message"] + "".join(f" | {e.get('message', e.get('code'))}" for e in data.get("errors", []))


# ----- the project's client against it -------------------------------------------------------------


def test_the_client_keeps_one_comment_per_marker_and_pr(gh, standin):
    seven, eight = standin.seed_pull("feature", "main").get("number"), standin.seed_issue()
    assert gh.upsert_comment(seven, "rmse 1.0", "mlops-metrics")["action"] == "created"
    assert gh.upsert_comment(eight, "other PR", "mlops-metrics")["action"] == "created"  # scoped by number
    updated = gh.upsert_comment(seven, "rmse 0.9", "mlops-metrics")
    assert updated["action"] == "updated"
    bodies = {c["issue_url"].rsplit("/", 1)[1]: c["body"] for c in standin.comments.values()}
    assert bodies == {str(seven): "<!-- mlops-metrics -->\nrmse 0.9", str(eight): "<!-- mlops-metrics -->\nother PR"}
    assert all(r.authorization == f"Bearer {TOKEN}" for r in standin.requests)


def test_the_client_follows_pagination_to_the_marked_comment(gh, standin, api):
    number = standin.seed_pull("feature", "main")["number"]
    for n in range(120):
        standin.seed_comment(number, f"chatter {n}")
    standin.seed_comment(number, "<!-- drift -->\nold")
    assert gh.upsert_comment(number, "new", "drift")["action"] == "updated"
    gets = [(r.path, r.query) for r in standin.requests if r.method == "GET"]
    assert gets == [
        (f"/repos/{REPO}/issues/{number}/comments", {"per_page": "100"}),
        (f"/repos/{REPO}/issues/{number}/comments", {"per_page": "100", "page": "2"}),
    ]
    assert len(standin.calls("PATCH", r"/issues/comments/\d+$")) == 1 and len(standin.comments) == 121


def test_the_client_never_edits_a_marked_comment_by_someone_else(gh, standin):
    """A user pastes the marker into a comment: the client adds its own comment and leaves theirs."""
    number = standin.seed_pull("feature", "main")["number"]
    pasted = standin.seed_comment(number, "<!-- mlops-metrics -->\nfake: all green", author="mallory")
    assert gh.upsert_comment(number, "rmse 1.0", "mlops-metrics")["action"] == "created"
    assert gh.upsert_comment(number, "rmse 0.9", "mlops-metrics")["action"] == "updated"
    assert standin.comments[pasted["id"]]["body"] == "<!-- mlops-metrics -->\nfake: all green"
    assert standin.comments[pasted["id"]]["user"]["login"] == "mallory"
    ours = [c for c in standin.comments.values() if c["id"] != pasted["id"]]
    assert [(c["user"]["login"], c["body"]) for c in ours] == [
        ("github-actions[bot]", "<!-- mlops-metrics -->\nrmse 0.9")
    ]
    assert [r.path for r in standin.calls("PATCH", r"/issues/comments/")] == [
        f"/repos/{REPO}/issues/comments/{ours[0]['id']}"
    ]


def test_an_apps_token_writes_as_the_app_and_the_client_finds_its_comment(gitops, remote):
    """The stand-in authors what an App's token writes as `<slug>[bot]`; told that login, the client
    updates the App's comment, and one made by github-actions[bot] is not its own."""
    app = GitHubStandIn(REPO, remote, token=TOKEN, login="retrain-bot[bot]")
    with app.serve() as url, gitops.GitHub(TOKEN, REPO, api_url=url, login="retrain-bot[bot]") as client:
        number = app.seed_pull("feature", "main")["number"]
        other = app.seed_comment(number, "<!-- m -->\nby actions", author="github-actions[bot]")
        created = client.upsert_comment(number, "one", "m")
        assert created["action"] == "created" and created["user"]["login"] == "retrain-bot[bot]"
        assert client.upsert_comment(number, "two", "m")["id"] == created["id"]
        assert app.comments[other["id"]]["body"] == "<!-- m -->\nby actions"
    app.assert_clean()


def test_the_client_opens_one_pr_then_updates_it(gh, standin):
    standin.seed_pull("feature", "merged", title="into another base")  # not into main: not ours to update
    created = gh.open_or_update_pr("retrain/old", "main", "Retrain", "first", head_prefix="retrain/")
    assert (created["action"], created["branch"]) == ("created", "retrain/old")
    again = gh.open_or_update_pr("retrain/new", "main", "Retrain 2", "second", head_prefix="retrain/")
    assert (again["action"], again["number"], again["branch"]) == ("updated", created["number"], "retrain/old")
    assert standin.pulls[created["number"]]["body"] == "second"
    (listed,) = standin.calls("GET", r"/pulls$")[-1:]
    assert listed.query == {"state": "open", "base": "main", "per_page": "100"}


def test_the_client_never_takes_over_a_retrain_pr_someone_else_opened(gh, gitops, standin):
    theirs = standin.seed_pull("feature", "main", author="alice")  # a person's PR from a retrain/-like branch
    with pytest.raises(gitops.GitHubError, match=f"PR #{theirs['number']} from feature was opened by 'alice'"):
        gh.open_or_update_pr("feature-2", "main", "t", "b", head_prefix="feat")
    assert list(standin.pulls) == [theirs["number"]] and standin.pulls[theirs["number"]]["title"] == "Seeded"


def test_the_client_skips_closed_prs(gh, standin, api):
    old = standin.seed_pull("retrain/old", "main")
    assert api.patch(f"/pulls/{old['number']}", json={"state": "closed"}).status_code == 200
    assert gh.find_open_pr("retrain/", "main") is None


def test_the_client_reports_githubs_422(gh, gitops, standin):
    standin.seed_pull("feature", "main", title="someone else's")  # same head: GitHub refuses a second PR
    with pytest.raises(gitops.GitHubError) as caught:
        gh.open_or_update_pr("feature", "main", "t", "b", head_prefix="retrain/")
    assert caught.value.status == 422
    assert "A pull request already exists for acme:feature." in str(caught.value)


def test_the_client_with_a_wrong_token_gets_401(gitops, standin):
    with gitops.GitHub("ghs_wrong", REPO, api_url=standin.url) as client, pytest.raises(gitops.GitHubError) as caught:
        client.find_open_pr("retrain/", "main")
    assert caught.value.status == 401 and "Bad credentials" in str(caught.value)


def test_the_client_records_a_deployment_and_its_statuses(gh, standin, remote):
    deployment = gh.create_deployment("main", "production", "model cancer-classifier v3", {"version": "3"})
    main = run(["git", "-C", remote, "rev-parse", "main"], remote).stdout.strip()
    assert (deployment["sha"], deployment["environment"], deployment["payload"]) == (
        main,
        "production",
        {"version": "3"},
    )
    gh.create_deployment_status(deployment["id"], "in_progress", "canary at 10%", log_url="https://ci.example/run/1")
    gh.create_deployment_status(
        deployment["id"], "success", "promoted " + "x" * 200, environment_url="http://127.0.0.1:3000"
    )
    states = [(s["state"], s["log_url"], s["environment_url"]) for s in standin.statuses[deployment["id"]]]
    assert states == [
        ("in_progress", "https://ci.example/run/1", ""),
        ("success", "", "http://127.0.0.1:3000"),
    ]
    (created,) = standin.calls("POST", r"/deployments$")
    assert created.body["auto_merge"] is False and created.body["required_contexts"] == []


# ----- refused like GitHub -----------------------------------------------------------------------


def test_no_token_or_a_wrong_one_is_401(standin):
    url = f"{standin.url}/repos/{REPO}/pulls"
    assert (httpx.get(url).status_code, httpx.get(url).json()["message"]) == (401, "Requires authentication")
    for value in ("Bearer ghs_other", f"Basic {TOKEN}", TOKEN):
        answer = httpx.get(url, headers={"Authorization": value})
        assert (answer.status_code, answer.json()["message"]) == (401, "Bad credentials"), value
    assert httpx.get(url, headers={"Authorization": f"token {TOKEN}"}).status_code == 200  # GitHub's other scheme
    assert [r.status for r in standin.requests] == [401] * 5 + [200]


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        (
            "POST",
            "/pulls",
            {"head": "feature", "base": "main", "title": "t", "bodyy": "typo"},
            "'bodyy' was unexpected",
        ),
        ("POST", "/pulls", {"head": "feature", "title": "t"}, "'base' is a required property"),
        ("POST", "/pulls", {"head": "feature", "base": "main", "draft": "yes"}, "'yes' is not of type 'boolean'"),
        ("POST", "/issues/1/comments", {}, "'body' is a required property"),
        ("POST", "/deployments", {"environment": "staging"}, "'ref' is a required property"),
        ("POST", "/deployments", {"ref": "main", "auto_merge": "no"}, "'no' is not of type 'boolean'"),
        ("POST", "/deployments/1001/statuses", {"state": "done"}, "'done' is not one of"),
        ("POST", "/deployments/1001/statuses", {"description": "no state"}, "'state' is a required property"),
        ("GET", "/pulls?state=opened", None, "state"),
        ("GET", "/pulls?per_page=many", None, "per_page"),
    ],
)
def test_a_request_the_description_forbids_is_422(standin, api, method, path, body, expected):
    standin.seed_pull("feature", "main")
    api.post("/deployments", json={"ref": "main"})
    answer = api.request(method, path, json=body)
    assert answer.status_code == 422, answer.text
    assert expected in answer.json()["message"]


def test_a_body_that_is_not_json_is_400(api):
    answer = api.post("/pulls", content=b"{not json", headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["message"]) == (400, "Problems parsing JSON")


def test_an_unsupported_api_version_is_400(api):
    assert api.get("/pulls", headers={"X-GitHub-Api-Version": "2019-01-01"}).status_code == 400


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/pulls/99", None),
        ("PATCH", "/pulls/99", {"title": "x"}),
        ("GET", "/issues/99/comments", None),
        ("POST", "/issues/99/comments", {"body": "x"}),
        ("PATCH", "/issues/comments/99", {"body": "x"}),
        ("GET", "/deployments/99", None),
        ("GET", "/deployments/99/statuses", None),
        ("POST", "/deployments/99/statuses", {"state": "success"}),
        ("GET", "/no-such-route", None),
    ],
)
def test_unknown_ids_and_routes_are_404(api, method, path, body):
    answer = api.request(method, path, json=body)
    assert (answer.status_code, answer.json()["message"]) == (404, "Not Found"), answer.text


def test_another_repository_is_404(standin):
    answer = httpx.get(f"{standin.url}/repos/acme/other/pulls", headers=HEADERS)
    assert answer.status_code == 404


def test_a_documented_route_it_does_not_implement_is_recorded_as_its_problem(standin, api):
    assert api.get("/branches").status_code == 404
    assert standin.problems == [f"GET /repos/{REPO}/branches: documented, but the stand-in does not implement it"]
    standin.problems.clear()


def test_an_answer_that_breaks_the_description_is_500_and_recorded(standin, api, monkeypatch):
    monkeypatch.setattr(standin, "_pulls_get", lambda **kwargs: (200, {"number": "one"}, {}))
    pr = standin.seed_pull("feature", "main")
    assert api.get(f"/pulls/{pr['number']}").status_code == 500
    assert len(standin.problems) == 1 and f"/pulls/{pr['number']} -> 200" in standin.problems[0]
    standin.problems.clear()


# ----- pull requests -----------------------------------------------------------------------------


def test_422_for_a_second_pr_no_commits_or_a_missing_branch(api):
    first = api.post("/pulls", json={"head": "feature", "base": "main", "title": "t"})
    assert first.status_code == 201 and first.headers["Location"].endswith(f"/pulls/{first.json()['number']}")
    cases = {
        "acme:feature": "A pull request already exists for acme:feature.",
        "merged": "No commits between main and merged",
        "nope": "PullRequest.head invalid",
        "someone:feature": "PullRequest.head invalid",
    }
    for head, expected in cases.items():
        answer = api.post("/pulls", json={"head": head, "base": "main", "title": "t"})
        assert answer.status_code == 422, answer.text
        shown = (
            message(answer).replace(" | invalid", " | PullRequest.head invalid")
            if "invalid" in expected
            else message(answer)
        )
        assert expected in shown, (head, answer.text)


def test_a_pr_carries_its_branches_commits(api, remote):
    pr = api.post("/pulls", json={"head": "feature", "base": "main", "title": "t", "body": "b"}).json()
    sha = run(["git", "-C", remote, "rev-parse", "feature"], remote).stdout.strip()
    assert (pr["head"]["sha"], pr["head"]["ref"], pr["base"]["ref"], pr["state"]) == (sha, "feature", "main", "open")
    assert (
        pr["head"]["repo"]["full_name"] == REPO and pr["html_url"] == f"https://github.com/{REPO}/pull/{pr['number']}"
    )


def test_list_pulls_filters_by_state_base_and_head(standin, api):
    into_main = standin.seed_pull("feature", "main")
    other = standin.seed_pull("retrain/old", "merged")
    closed = standin.seed_pull("retrain/old", "main")
    api.patch(f"/pulls/{closed['number']}", json={"state": "closed"})

    def numbers(**query) -> list[int]:
        answer = api.get("/pulls", params=query)
        assert answer.status_code == 200, answer.text
        return [p["number"] for p in answer.json()]

    assert numbers() == [other["number"], into_main["number"]]  # open, newest first
    assert numbers(state="closed") == [closed["number"]]
    assert numbers(state="all", direction="asc") == [into_main["number"], other["number"], closed["number"]]
    assert numbers(base="merged") == [other["number"]]
    assert numbers(head="acme:feature") == [into_main["number"]]
    assert numbers(head="acme:retrain/old", state="all") == [closed["number"], other["number"]]
    assert numbers(head="someone:feature") == []
    assert api.get("/pulls", params={"head": "feature"}).status_code == 422  # no owner: stricter than GitHub


def test_pagination_links_and_per_page_limit(standin, api):
    number = standin.seed_issue()
    assert api.post(f"/issues/{number}/comments", json={"body": "0"}).status_code == 201
    for n in range(1, 7):
        standin.seed_comment(number, str(n))
    first = api.get(f"/issues/{number}/comments", params={"per_page": 3})
    assert [c["body"] for c in first.json()] == ["0", "1", "2"]
    assert first.links["next"]["url"].endswith(f"/issues/{number}/comments?per_page=3&page=2")
    assert first.links["last"]["url"].endswith("page=3") and "prev" not in first.links
    last = httpx.get(first.links["last"]["url"], headers=HEADERS)
    assert [c["body"] for c in last.json()] == ["6"] and "next" not in last.links
    assert last.links["prev"]["url"].endswith("page=2")
    assert (
        len(api.get(f"/issues/{number}/comments").json()) == 7
        and "Link" not in api.get(f"/issues/{number}/comments").headers
    )
    for n in range(150):
        standin.seed_comment(number, str(n))
    assert len(api.get(f"/issues/{number}/comments", params={"per_page": 500}).json()) == 100


# ----- deployments -------------------------------------------------------------------------------


def test_a_deployment_gets_githubs_defaults_and_resolves_its_ref(api, remote):
    answer = api.post("/deployments", json={"ref": "main", "required_contexts": [], "payload": {"model": "m:1"}})
    assert answer.status_code == 201, answer.text
    deployment = answer.json()
    main = run(["git", "-C", remote, "rev-parse", "main"], remote).stdout.strip()
    assert (deployment["sha"], deployment["ref"], deployment["environment"], deployment["task"]) == (
        main,
        "main",
        "production",
        "deploy",
    )
    assert deployment["production_environment"] is True and deployment["transient_environment"] is False
    assert deployment["payload"] == {"model": "m:1"}
    assert api.get(f"/deployments/{deployment['id']}").json() == deployment
    tagged = api.post("/deployments", json={"ref": "v1", "environment": "staging", "description": "canary"}).json()
    assert (tagged["sha"], tagged["production_environment"], tagged["description"]) == (main, False, "canary")
    by_sha = api.post("/deployments", json={"ref": main[:10], "environment": "qa", "payload": '{"a": 1}'}).json()
    assert by_sha["payload"] == {"a": 1}


def test_a_deployment_of_an_unknown_ref_is_422(api):
    answer = api.post("/deployments", json={"ref": "no-such-branch"})
    assert (answer.status_code, answer.json()["message"]) == (422, "No ref found for: no-such-branch")


def test_list_deployments_filters_newest_first(api, remote):
    made = [
        api.post("/deployments", json={"ref": ref, "environment": env}).json()
        for ref, env in (("main", "staging"), ("feature", "staging"), ("main", "production"))
    ]

    def ids(**query) -> list[int]:
        answer = api.get("/deployments", params=query)
        assert answer.status_code == 200, answer.text
        return [d["id"] for d in answer.json()]

    assert ids() == [d["id"] for d in reversed(made)]
    assert ids(environment="staging") == [made[1]["id"], made[0]["id"]]
    assert ids(ref="main") == [made[2]["id"], made[0]["id"]]
    assert ids(sha=made[1]["sha"]) == [made[1]["id"]]
    assert ids(environment="staging", per_page=1, page=2) == [made[0]["id"]]


def test_deployment_statuses_newest_first_and_auto_inactive(api):
    first = api.post("/deployments", json={"ref": "main", "environment": "staging"}).json()
    second = api.post("/deployments", json={"ref": "feature", "environment": "staging"}).json()
    prod = api.post("/deployments", json={"ref": "main"}).json()
    for deployment in (first, prod):
        assert api.post(f"/deployments/{deployment['id']}/statuses", json={"state": "success"}).status_code == 201
    body = {"state": "in_progress", "log_url": "https://ci/run/1", "environment_url": "http://127.0.0.1:3000"}
    progress = api.post(f"/deployments/{second['id']}/statuses", json=body)
    assert progress.status_code == 201, progress.text
    assert progress.json()["target_url"] == "https://ci/run/1" and progress.json()["environment"] == "staging"
    done = api.post(f"/deployments/{second['id']}/statuses", json={"state": "success", "description": "canary ok"})
    assert done.status_code == 201

    states = lambda d: [s["state"] for s in api.get(f"/deployments/{d['id']}/statuses").json()]
    assert states(second) == ["success", "in_progress"]  # newest first
    assert states(first) == ["inactive", "success"]  # superseded in its (non-production) environment
    prod_again = api.post("/deployments", json={"ref": "feature"}).json()
    api.post(f"/deployments/{prod_again['id']}/statuses", json={"state": "success"})
    assert states(prod) == ["success"]  # production deployments are left alone, as documented
    kept = api.post("/deployments", json={"ref": "main", "environment": "staging"}).json()
    api.post(f"/deployments/{kept['id']}/statuses", json={"state": "success", "auto_inactive": False})
    assert states(second) == ["success", "in_progress"]


def test_a_status_can_move_the_deployment_and_has_a_length_limit(api):
    deployment = api.post("/deployments", json={"ref": "main", "environment": "staging"}).json()
    moved = api.post(f"/deployments/{deployment['id']}/statuses", json={"state": "queued", "environment": "qa"})
    assert (
        moved.json()["environment"] == "qa"
        and api.get(f"/deployments/{deployment['id']}").json()["environment"] == "qa"
    )
    long = api.post(f"/deployments/{deployment['id']}/statuses", json={"state": "failure", "description": "x" * 141})
    assert long.status_code == 422 and "maximum is 140" in message(long)
