"""Template-owned plumbing (config, data, validation, tracking, serving). `cruft update` keeps it
current: change `model/` and `mlops.yaml` instead of these files."""
