"""Compiling the request's regular expressions (``tag_regex``, ``label_regex``,
``annotation_regex``) with RE2, the syntax and semantics of Go's ``regexp`` that the Go resource
uses.

One place for the RE2 options, so that every field compiles the same way; each command turns the
error into its own message. ``re2`` is imported on first use: a check in tag or semver mode never
loads it.
"""

from __future__ import annotations

from typing import Any


class PatternError(ValueError):
    """A pattern RE2 refuses; ``str()`` is RE2's reason."""


def compile_re2(pattern: str) -> Any:
    """``pattern`` compiled by RE2, or ``PatternError`` with RE2's reason."""
    import re2

    options = re2.Options()
    options.log_errors = False  # else RE2 prints its own line on stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        raise PatternError(reason) from None
