"""Logging to stderr, with every known secret masked before a line is written.

The CLI calls ``configure`` with the request's secrets; from then on no log record, debug
included, can show them, whatever a caller formats into it. Code that obtains a credential at
run time (a bearer token, ECR or STS credentials, an ACR refresh token) hands it to
``add_secrets`` before anything could log it. This module must never write a record unmasked.

Python's ``logging`` (with ``traceback`` behind it) costs more to import than a whole ``check``
against a loopback registry spends on the network, and a successful check at the default level
writes no record. So ``check`` configures logging *deferred*: ``get_logger()`` gives a stand-in
that drops records below the level without importing anything, and installs the masking handler
(importing ``logging``) just before the first record that is written. ``in`` and ``out`` install it
at once: they always write records, and the libraries they load may log by themselves. Code that
brings in a library which logs by itself (boto3) calls ``capture_library_logs`` first. Every
module logs through ``get_logger()``; none calls ``logging.getLogger`` for the resource's records.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from registry_image_resource.log.masking import MASK, redact

if TYPE_CHECKING:
    import logging

__all__ = ["MASK", "Logger", "add_secrets", "capture_library_logs", "configure", "get_logger", "redact"]

LOGGER_NAME = "registry_image_resource"
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40


class _State:
    """What ``configure`` set. Secrets only accumulate: one added once stays masked for good."""

    __slots__ = ("deferred", "level", "secrets")

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.level = INFO
        self.deferred = False


_STATE = _State()


def configure(*, debug: bool, secrets: Iterable[str] = (), deferred: bool = False) -> Logger:
    """Send the resource's log to stderr at INFO (or DEBUG) with ``secrets`` masked.

    Secrets added earlier (``add_secrets``) stay masked. Other libraries' records (urllib3,
    botocore, ...) reach stderr only at WARNING and above and through the same masking handler on
    the root logger, never through Python's unmasked last-resort handler; their debug output
    (which can hold fresh STS credentials) never shows. ``deferred``: install the handler only
    before the first record written through ``get_logger()`` (or ``capture_library_logs``).
    """
    _STATE.level = DEBUG if debug else INFO
    _STATE.secrets.update(s for s in secrets if s)
    _STATE.deferred = deferred
    if not deferred:
        _install()
    return _LOGGER


def add_secrets(secrets: Iterable[str]) -> None:
    """Mask ``secrets`` too in every later record (credentials obtained at run time)."""
    _STATE.secrets.update(s for s in secrets if s)


def capture_library_logs() -> None:
    """Install a deferred configuration now: a library that logs by itself is about to load."""
    if _STATE.deferred:
        _STATE.deferred = False
        _install()


def _install() -> None:
    from registry_image_resource.log._handler import install

    install(LOGGER_NAME, _STATE.secrets, _STATE.level)


class Logger:
    """The resource's logger: ``logging.Logger``'s methods that the resource calls, as a stand-in
    that imports ``logging`` only for a record that is written (see the module docstring)."""

    __slots__ = ()

    def debug(self, msg: str, *args: object) -> None:
        self._log(DEBUG, msg, args)

    def info(self, msg: str, *args: object) -> None:
        self._log(INFO, msg, args)

    def warning(self, msg: str, *args: object) -> None:
        self._log(WARNING, msg, args)

    def error(self, msg: str, *args: object) -> None:
        self._log(ERROR, msg, args)

    def debug_traceback(self, msg: str, *args: object) -> None:
        """``msg`` at DEBUG with the traceback of the exception being handled (masked as any record)."""
        self._log(DEBUG, msg, args, exc_info=True)

    def _log(self, level: int, msg: str, args: tuple[object, ...], exc_info: bool = False) -> None:
        if _STATE.deferred and level < _STATE.level:
            return  # below the level: no record, nothing imported
        self._real().log(level, msg, *args, exc_info=exc_info, stacklevel=3)

    @staticmethod
    def _real() -> logging.Logger:
        capture_library_logs()
        import logging

        return logging.getLogger(LOGGER_NAME)


_LOGGER = Logger()


def get_logger() -> Logger:
    return _LOGGER
