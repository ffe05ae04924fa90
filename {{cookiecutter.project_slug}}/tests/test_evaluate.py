from {{ cookiecutter.package_name }}.ops.pipeline.evaluate import gate


def test_gate_checks_the_floor_and_the_champion(config):
    floor = config.training.min_metric
    metric = config.training.metric
    assert gate(config, {metric: floor + 0.02}, None) == []
    assert "training.min_metric" in gate(config, {metric: floor - 0.01}, None)[0]
    champion = {metric: floor + 0.04}
    assert gate(config, {metric: floor + 0.035}, champion) == []
    problems = gate(config, {metric: floor + 0.02}, champion)
    assert len(problems) == 1 and "worse than the champion" in problems[0]


def test_lower_is_better_metrics(mixed_config):
    assert gate(mixed_config, {"rmse": 90.0}, {"rmse": 89.995}) == []
    assert "worse than the champion" in gate(mixed_config, {"rmse": 95.0}, {"rmse": 80.0})[0]
    assert "at most 100.0" in gate(mixed_config, {"rmse": 120.0}, None)[0]
