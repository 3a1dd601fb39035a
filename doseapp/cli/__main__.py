"""`python -m doseapp.cli`: what the processes `doseapp run` starts call."""
from doseapp.cli import main

main()
