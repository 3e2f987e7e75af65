"""Scripts that rebuild the vendored terminology content (run from the repository root)."""
