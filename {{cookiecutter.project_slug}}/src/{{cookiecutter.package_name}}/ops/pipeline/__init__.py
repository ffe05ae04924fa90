"""The DVC pipeline's steps: read and split the data (validated first), train, evaluate; and which
config fields and code each stage depends on (stages.py)."""
