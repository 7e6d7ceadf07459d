"""Versions as the Go resource reads tags: the Masterminds/semver grammar and ordering
(``versions``) and its constraint language (``constraints``). Pure functions, no I/O.
"""
