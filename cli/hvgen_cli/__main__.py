"""``python -m hvgen_cli``: the hvgen command line."""

from . import main

main()
