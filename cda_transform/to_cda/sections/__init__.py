"""One module per eHDSI section family; each exposes ``build(ctx, entries)``."""
