"""`python -m pcipass`."""

from pcipass.cli.main import main

main()
