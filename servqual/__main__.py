"""``python -m servqual``."""

from .cli import main

main()
