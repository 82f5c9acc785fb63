"""`python -m dxagent` runs the CLI."""

from dxagent.cli import main

main()
