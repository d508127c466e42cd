"""The Parquet lake: AWS output JSON flattened into tables (``parse``), their schemas (``schemas``),
and partition writes, reads and DuckDB views (``store``). Import the submodules; this package imports
nothing heavy so DAG files can reference it cheaply."""
