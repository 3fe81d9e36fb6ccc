"""The paper's experiment: ``grid`` (what to run), ``subjects`` (HR sources), ``run`` (train and score, one CSV
row per run), ``report`` (tables and figures)."""
