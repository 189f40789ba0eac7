"""The one exception type the user sees: a one-line message saying what was wrong and how to fix it."""


class MnistlabError(Exception):
    """A problem with the user's input or environment, reported as one line (CLI exit code 2)."""
