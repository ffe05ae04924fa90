"""Contract test of the served OpenAPI document: the service answers as /docs.json says it does.

The shared bentos' project (tests/bentos.py: a default bake, pipeline run, model registered) served
with `mlops serve`. From the document it serves, hypothesis (hypothesis-jsonschema) generates request
bodies that the declared request schema admits, and spoils them in the ways clients get it wrong (a
string or a bool for a number, a value below its declared minimum, a non-finite number, an unknown
or a missing field, no rows, text that is not JSON, another content type, a body over the size
limit). Every answer must be a status the document declares for POST /predict, with a body that
validates against the declared schema of that status: 200 for every valid body (422 only for a huge
value the model's scaling overflows), 4xx for every invalid one, never a 5xx.
Bounded: 2 x 60 examples, ~1 min once the server is up.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
import pandas as pd
import pytest
from bentos import project_copy, shared_bentos
from helpers import TEMPLATE_PROJECT, free_port, serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.slow

EXAMPLES = 60
GENERATED_ROWS = 3  # rows per generated body (the declared maximum is far larger; the rules are per row)
HUGE = 1e100  # only values beyond this may overflow the model (the bundled data's are below 1e5)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def served(tmp_path_factory, worker_id) -> tuple[str, dict]:
    """The URL of `mlops serve` on a copy of the shared bentos' project (pipeline run, model
    registered) and the OpenAPI document it serves."""
    base = tmp_path_factory.mktemp("contract")
    project = project_copy(shared_bentos(tmp_path_factory, worker_id), base)
    env = {**project.env, "BENTOML_HOME": str(base / "bentoml")}
    port = free_port()
    cmd = ["mlops", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with serving(cmd, project.project, env, base / "serve.log", port) as url:
        yield url, httpx.get(f"{url}/docs.json", timeout=30).raise_for_status().json()
    print(_tail(base / "serve.log"))


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _operation(document: dict) -> dict:
    return document["paths"]["/predict"]["post"]


def _request_schema(document: dict) -> dict:
    schema = copy.deepcopy(_operation(document)["requestBody"]["content"]["application/json"]["schema"])
    schema["properties"]["rows"]["maxItems"] = GENERATED_ROWS
    return schema


def _check_declared(document: dict, answer: httpx.Response) -> None:
    """The status is declared for POST /predict and the body validates against its schema."""
    responses = _operation(document)["responses"]
    assert str(answer.status_code) in responses, f"undeclared {answer.status_code}: {answer.text[:300]}"
    declared = responses[str(answer.status_code)]["content"]["application/json"]["schema"]
    schema = {**declared, "components": document["components"]}  # "#/components/..." resolves in here
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(answer.json())]
    assert not errors, f"{answer.status_code} body {answer.text[:300]} breaks its declared schema: {errors}"


def _post(url: str, content: bytes, content_type: str = "application/json", path: str = "/predict") -> httpx.Response:
    return httpx.post(f"{url}{path}", content=content, headers={"content-type": content_type}, timeout=30)


def _numeric_fields(document: dict) -> list[str]:
    row = _request_schema(document)["properties"]["rows"]["items"]
    return [name for name, field in row["properties"].items() if field["anyOf"][0].get("type") == "number"]


def _spoilers(document: dict) -> st.SearchStrategy:
    """Functions that turn a valid body into an invalid (content, content type) pair."""
    numeric = _numeric_fields(document)
    minimum = {
        name: field["anyOf"][0].get("minimum")
        for name, field in _request_schema(document)["properties"]["rows"]["items"]["properties"].items()
    }

    def setter(value):
        return lambda body, name: _set(body, name, value)

    field_value = st.sampled_from(numeric).flatmap(
        lambda name: st.tuples(
            st.just(name),
            st.one_of(
                st.just(setter("1.5")),
                st.just(setter(True)),
                st.just(setter([1.0])),
                st.just(setter({"value": 1.0})),
                *([st.just(setter(minimum[name] - 1))] if minimum[name] is not None else []),
            ),
        )
    )
    by_field = field_value.map(lambda pair: lambda body: (_json(pair[1](body, pair[0])), "application/json"))
    whole = st.sampled_from(
        [
            lambda body: (_json(_with(body, unknown_column=1.0)), "application/json"),
            lambda body: (_json(_without(body, numeric[0])), "application/json"),
            lambda body: (_json({"rows": []}), "application/json"),
            lambda body: (_json({**body, "extra": 1}), "application/json"),
            lambda body: (_json(body).replace(b"[", b"", 1), "application/json"),  # not JSON any more
            lambda body: (_json(_set(body, numeric[0], 1.0)).replace(b"1.0", b"Infinity", 1), "application/json"),
            lambda body: (_json(_set(body, numeric[0], 1.0)).replace(b"1.0", b"1e309", 1), "application/json"),
            lambda body: (_json(body), "text/plain"),
            lambda body: (_json(body), "multipart/form-data; boundary=x"),
            lambda body: (b" " * 5_000_000 + _json(body), "application/json"),
        ]
    )
    return st.one_of(by_field, whole)


def _largest(body: dict) -> float:
    return max((abs(v) for row in body["rows"] for v in row.values() if isinstance(v, int | float)), default=0)


def _json(body: dict) -> bytes:
    return json.dumps(body).encode()


def _set(body: dict, name: str, value) -> dict:
    spoiled = copy.deepcopy(body)
    spoiled["rows"][0][name] = value
    return spoiled


def _with(body: dict, **extra) -> dict:
    spoiled = copy.deepcopy(body)
    spoiled["rows"][0].update(extra)
    return spoiled


def _without(body: dict, name: str) -> dict:
    spoiled = copy.deepcopy(body)
    del spoiled["rows"][0][name]
    return spoiled


def test_valid_bodies_get_200_as_declared(served):
    url, document = served

    @SETTINGS
    @given(from_schema(_request_schema(document)))
    def check(body):
        answer = _post(url, _json(body))
        _check_declared(document, answer)
        if answer.status_code == 422:  # declared: a finite value so large that the model's scaling overflows
            assert _largest(body) > HUGE, f"422 for ordinary values: {answer.text[:300]}"
            return
        assert answer.status_code == 200, answer.text[:300]
        assert len(answer.json()["predictions"]) == len(body["rows"])

    check()


def test_invalid_bodies_get_a_declared_4xx_never_a_5xx(served):
    url, document = served

    @SETTINGS
    @given(from_schema(_request_schema(document)), _spoilers(document))
    def check(body, spoil):
        content, content_type = spoil(body)
        answer = _post(url, content, content_type)
        _check_declared(document, answer)
        assert 400 <= answer.status_code < 500, f"{answer.status_code} for {content[:200]!r}: {answer.text[:300]}"

    check()


def test_the_document_declares_the_400_body_with_its_field_errors(served):
    _, document = served
    declared = _operation(document)["responses"]["400"]["content"]["application/json"]["schema"]
    problem = document["components"]["schemas"][declared["$ref"].rsplit("/", 1)[-1]]
    assert problem["properties"]["error"]["type"] == "string"
    assert problem["properties"]["detail"]["type"] == "array"


def test_sagemakers_routes_answer_as_predict_does(served):
    """SageMaker's container contract (deploy.target aws): GET /ping once the model is loaded, POST
    /invocations with /predict's body and answers."""
    url, document = served
    ping = httpx.get(f"{url}/ping", timeout=30)
    assert ping.status_code == 200 and ping.json()["status"] == "ready", ping.text
    fields = _request_schema(document)["properties"]["rows"]["items"]["properties"]
    table = pd.read_csv(TEMPLATE_PROJECT / "data" / "raw.csv", nrows=3)
    body = _json({"rows": table[list(fields)].to_dict("records")})
    predicted, invoked = _post(url, body), _post(url, body, path="/invocations")
    assert invoked.status_code == predicted.status_code == 200, invoked.text
    assert invoked.json()["predictions"] == predicted.json()["predictions"]
    refused = _post(url, body, "text/csv", path="/invocations")
    assert refused.status_code == 415, refused.text  # the same edge as /predict
