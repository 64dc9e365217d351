"""Config: the schema (the one source of truth for keys and defaults), validation, composition, paths."""
