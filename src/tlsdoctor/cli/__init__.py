"""The command line: parse, call one library function, render, exit with the spec's code."""
