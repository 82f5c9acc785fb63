"""dxagent: infrastructure health and conformance monitoring for commune and provincial sites."""

from __future__ import annotations

# Written here rather than read with importlib.metadata: that import (email, zipfile, csv, …) costs
# the daemon about 2.7 MiB of RSS for one string. tests/test_packaging.py keeps it equal to the
# version in pyproject.toml.
__version__ = "0.1.0"

__all__ = ["__version__"]
