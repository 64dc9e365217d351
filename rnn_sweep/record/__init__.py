"""Results on disk: the record and its columns, tables, plots, pairing, reproduction. pandas only."""
