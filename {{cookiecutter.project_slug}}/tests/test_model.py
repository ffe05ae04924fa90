import pytest

from {{ cookiecutter.package_name }}.ops.pipeline import data, evaluate, training
from {{ cookiecutter.package_name }}.ops.serving.schema import row_model, to_frame


@pytest.fixture
def mixed_project(tmp_path, monkeypatch, mixed_config, mixed_frame):
    """A user's own CSV with categorical columns and missing values, trained through the ops code."""
    monkeypatch.chdir(tmp_path)
    mixed_frame.to_csv("own.csv", index=False)
    return mixed_config.model_copy(update={"data": mixed_config.data.model_copy(update={"source": "own.csv"})})


def test_own_data_with_categories_and_gaps_trains_and_scores(mixed_project):
    train_rows, test_rows = data.prepare(mixed_project)
    assert train_rows + test_rows == 300 and test_rows > 30
    model = training.fit(mixed_project)
    test = data.read_table(data.TEST)
    scores = evaluate.compute(mixed_project, model, data.features(mixed_project, test), test["price"])
    assert set(scores) == {"rmse", "mae", "r2"}
    assert scores["r2"] > 0.9
    assert evaluate.gate(mixed_project, scores, None) == []


def test_split_is_seeded_and_keeps_source_rows(mixed_project):
    frame = data.read_table("own.csv")
    first, again = data.split(mixed_project, frame), data.split(mixed_project, frame)
    assert first[1].index.equals(again[1].index)
    assert sorted(first[0].index.tolist() + first[1].index.tolist()) == list(range(len(frame)))


def test_unknown_estimator_params_name_the_config_field(mixed_project):
    data.prepare(mixed_project)
    bad = mixed_project.model_copy(
        update={"training": mixed_project.training.model_copy(update={"params": {"alpah": 1}})}
    )
    with pytest.raises(training.TrainingError, match=r"mlops.yaml training.params: .*alpah"):
        training.fit(bad)


def test_request_rows_are_typed_from_the_config(mixed_config):
    from pydantic import ValidationError

    Row = row_model(mixed_config)
    row = Row(area=50.0, rooms=None, city="rome", heating="gas")
    assert to_frame(mixed_config, [row]).columns.tolist() == ["area", "rooms", "city", "heating"]
    for bad, field in [
        ({"area": "big", "rooms": 1, "city": "rome", "heating": "gas"}, "area"),
        ({"area": 1, "rooms": 1, "city": "oslo", "heating": "gas"}, "city"),
        ({"area": 1, "rooms": 1, "city": "rome"}, "heating"),
        ({"area": 1, "rooms": 1, "city": "rome", "heating": "gas", "extra": 1}, "extra"),
    ]:
        with pytest.raises(ValidationError) as info:
            Row(**bad)
        assert info.value.errors()[0]["loc"] == (field,)
