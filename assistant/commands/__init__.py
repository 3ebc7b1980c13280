"""One module per CLI command that is more than a call: typed arguments -> library calls -> output.

Each command function takes the loaded settings and plain values (a frozen request dataclass where
there are many) and returns the exit code. `assistant.cli` parses the arguments and dispatches.
"""
