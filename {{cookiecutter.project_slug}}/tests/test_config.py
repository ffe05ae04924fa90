import pytest

from {{ cookiecutter.package_name }}.ops.config import SCHEMA_FILE, ConfigError, json_schema, load_config


def write(tmp_path, text: str):
    path = tmp_path / "mlops.yaml"
    path.write_text(text)
    return path


def test_the_project_config_is_valid_and_the_schema_file_is_current():
    config = load_config()
    assert config.deploy.target == "{{ cookiecutter.deploy_target }}"
    assert config.monitoring.schedule == "{{ cookiecutter.retrain_schedule }}"
    assert SCHEMA_FILE.read_text() == json_schema()


KSERVE = {"service_name": "model", "image": "ghcr.io/acme/model", "bucket": "s3://bucket/dvc"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda c: c["training"].update(min_metric="high"),
            "training.min_metric: Input should be a valid number",
        ),
        (lambda c: c["training"].update(metric="rmse"), "'rmse' does not fit a classification task"),
        (
            lambda c: c["monitoring"].update(schedule="0 25 * * *"),
            "monitoring.schedule: Value error, not a cron",
        ),
        (lambda c: c["data"].update(colums={}), "data.colums: Extra inputs are not permitted"),
        (lambda c: c["deploy"].update(target="aws") or c["deploy"].pop("aws", None), "the deploy.aws block is missing"),
        (
            lambda c: c["deploy"]["canary"].update(steps=[50, 10]),
            "deploy.canary.steps: Value error, steps must rise",
        ),
        (lambda c: c["deploy"]["canary"].update(steps=[10, 120]), "deploy.canary.steps.1: Input should be less than"),
        (
            lambda c: c["deploy"]["canary"].update(step_seconds=-5),
            "deploy.canary.step_seconds: Input should be greater",
        ),
        (lambda c: c["deploy"]["canary"].update(steps=[0, 100]), "deploy.canary.steps: Value error, a step of 0"),
        (lambda c: c["deploy"]["canary"].update(mode="blue-green"), "deploy.canary.mode: Input should be 'canary'"),
        (
            lambda c: c["deploy"].update(target="kubernetes", kubernetes=KSERVE, canary={"mode": "shadow-then-canary"}),
            "deploy: Value error, canary.mode shadow-then-canary needs a target that mirrors traffic (local, azure)",
        ),
        (lambda c: c["deploy"]["canary"].update(failure_limit=0), "deploy.canary.failure_limit: Input should be"),
        (lambda c: c["deploy"]["canary"]["gates"].update(max_error_rate=2), "deploy.canary.gates.max_error_rate"),
        (lambda c: c.pop("training"), "training: Field required"),
        (
            lambda c: c["data"]["columns"].update(x={"type": "numeric", "min": 5, "max": 1}),
            "data.columns.x: Value error, min",
        ),
        (
            lambda c: c["data"]["target"].update(values=[1, 1]),
            "data.target: Value error, a classification target needs at least 2 values",
        ),
    ],
)
def test_an_invalid_config_names_the_file_and_the_field(tmp_path, raw_config, change, expected):
    import yaml

    change(raw_config)
    path = write(tmp_path, yaml.safe_dump(raw_config))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_not_yaml_and_missing_file_are_clear(tmp_path):
    with pytest.raises(ConfigError, match=r"mlops.yaml: not valid YAML"):
        load_config(write(tmp_path, "project: [unclosed"))
    with pytest.raises(ConfigError, match=r"nope.yaml: file not found"):
        load_config(tmp_path / "nope.yaml")


def check_command(tmp_path, raw: dict):
    """`mlops config check` on `raw` written to a file: (exit code, stderr lines)."""
    import yaml
    from typer.testing import CliRunner

    from {{ cookiecutter.package_name }}.ops.cli import app

    result = CliRunner().invoke(app, ["config", "check", "--config", str(write(tmp_path, yaml.safe_dump(raw)))])
    return result.exit_code, [line for line in result.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Flipped to regression, the classification defaults left: Ridge has no C (it failed at train time).
        (
            lambda c: c["data"]["target"].update(task="regression", values=None) or c["training"].update(metric="rmse"),
            "training.params: not accepted by the estimator: Ridge.__init__() got an unexpected keyword argument "
            "'C' (Ridge accepts alpha, ",
        ),
        # Accepted by the constructor, refused by sklearn only at fit: caught without data.
        (
            lambda c: c["training"]["params"].update(C=-1.0),
            "training.params: The 'C' parameter of LogisticRegression must be a float in the range (0.0, inf]",
        ),
        (lambda c: c["training"]["params"].update(max_iter="many"), "training.params: The 'max_iter' parameter"),
    ],
)
def test_config_check_builds_the_estimator_with_training_params(tmp_path, raw_config, change, expected):
    change(raw_config)
    code, lines = check_command(tmp_path, raw_config)
    assert code == 2 and len(lines) == 1 and expected in lines[0], lines


@pytest.mark.parametrize(
    "change",
    [
        lambda c: None,  # the bake's defaults
        lambda c: c["data"]["target"].pop("values"),  # no classes declared: nothing to say at check time
        lambda c: (
            c["data"]["target"].update(task="regression", values=None)
            or c["training"].update(params={"alpha": 0.5}, metric="rmse")
        ),
    ],
)
def test_params_that_fit_the_task_pass_the_check(raw_config, change):
    from {{ cookiecutter.package_name }}.ops.config import Config
    from {{ cookiecutter.package_name }}.ops.pipeline.training import check

    change(raw_config)
    check(Config.model_validate(raw_config))


def test_config_check_refuses_what_dvc_cannot_read(tmp_path, raw_config):
    """PyYAML reads an unquoted URI in a flow mapping; DVC's parser (ruamel's C loader) does not."""
    import yaml
    from typer.testing import CliRunner

    from {{ cookiecutter.package_name }}.ops.cli import app

    raw_config.pop("batch", None)
    text = yaml.safe_dump(raw_config, sort_keys=False) + "batch: {output: gs://bucket/out.parquet}\n"
    assert yaml.safe_load(text)["batch"]["output"] == "gs://bucket/out.parquet"
    result = CliRunner().invoke(app, ["config", "check", "--config", str(write(tmp_path, text))])
    assert result.exit_code == 2, result.output
    assert "DVC cannot read it" in result.stderr and "found unexpected ':'" in result.stderr, result.stderr
