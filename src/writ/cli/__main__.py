"""``python -m writ.cli``."""

from writ.cli import main

main()
