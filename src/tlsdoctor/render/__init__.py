"""Serialisation and display: reports to JSON (the spec) and to terminal text (Rich)."""
