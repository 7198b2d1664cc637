"""The command line: click commands, human rendering, `--json`, errors → one line + exit code."""
