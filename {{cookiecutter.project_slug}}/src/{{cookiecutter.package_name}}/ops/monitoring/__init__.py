"""Production monitoring: the request log, labels, the current window and the retraining trigger."""
