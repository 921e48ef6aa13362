"""``python -m tlsdoctor``."""

from tlsdoctor.cli.main import run

# Guarded: the worker processes of --workers start by importing the parent's main module.
if __name__ == "__main__":
    run()
