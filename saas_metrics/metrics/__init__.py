"""Pure metric functions: DataFrames in, DataFrames out. Nothing here imports Dagster."""
