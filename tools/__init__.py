"""Helper scripts for the Makefile gates (not shipped in any Lambda artefact)."""
