"""``python -m hvgen``: the hvgen command line."""

from .cli import main

main()
