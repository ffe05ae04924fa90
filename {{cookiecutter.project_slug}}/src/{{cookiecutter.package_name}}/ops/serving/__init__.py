"""Serving: the BentoML service and its HTTP edge, the request schema from mlops.yaml, the bento build,
the smoke test, and batch prediction with the same model."""
