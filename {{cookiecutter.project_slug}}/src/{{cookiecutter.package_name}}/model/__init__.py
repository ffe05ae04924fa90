"""User-owned model code: edit freely. The template's `ops/` code calls `build_pipeline`."""
