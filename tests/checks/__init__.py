"""Test package (a package so that shared helpers import as `tests.pki`)."""
