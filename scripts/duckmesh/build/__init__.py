"""The build: the pipeline of typed steps around `dbt build`, and the state for --changed-only."""
