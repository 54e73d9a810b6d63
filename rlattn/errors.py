"""One exception type for problems a user can fix (bad paths, bad boxes, bad files).

The CLI prints these as a single line and exits non-zero; anything else is a bug and keeps its
traceback.
"""


class RlattnError(ValueError):
    """A problem with the user's input, described in one actionable sentence."""
