"""Report: a sweep's tables and their renderings (CSV, terminal, HTML, plots, TensorBoard HParams)."""
