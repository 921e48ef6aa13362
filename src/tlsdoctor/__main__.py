"""``python -m tlsdoctor``."""

from tlsdoctor.cli.main import run

run()
