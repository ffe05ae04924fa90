"""Template-owned plumbing (config, data, validation, tracking, serving). `mlops template update`
keeps it current: change `model/` and `mlops.yaml` instead of these files."""
