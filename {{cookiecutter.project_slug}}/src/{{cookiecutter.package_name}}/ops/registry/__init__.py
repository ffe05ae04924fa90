"""MLflow: tracking a pipeline's result as a run, and the registry's versions and aliases (challenger,
champion), with the lineage tagged on both."""
