"""Template-owned plumbing, one package per concern; `mlops template update` keeps it current:
change `model/` and `mlops.yaml` instead of these files.

- config.py (the model of mlops.yaml), sync.py, state.py, errors.py, tools.py, cron.py: shared by all
- pipeline/: the DVC stages (prepare with validation, train, evaluate) and their declared deps
- registry/: MLflow tracking, registry versions and aliases, lineage
- serving/: the BentoML service, its HTTP edge and request schema, bento build, smoke, batch
- monitoring/: the request log, labels, drift and the retraining trigger
- deploy/: the canary controller and one module per target
- gitops/: the GitHub client, the PR report, ONE PR per proposal, template updates
- cli/: the `mlops` commands, one module per area
"""
