"""tox plugin for this repository: the ``shared`` runner.

Every tox environment here (lint, type, unit, integration) needs the same packages, so they share
one virtualenv (``env_dir = .tox/shared``) and a full run installs once. tox normally rebuilds an
environment directory that another environment name used; this runner leaves the name out of that
comparison. It installs with uv (tox-uv) when available, which is several times faster than pip
here, and with pip otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tox.plugin import impl
from tox.tox_env.api import ToxEnv
from tox.tox_env.info import Info
from tox_ignore_env_name_mismatch import FilteredInfo

try:
    from tox_uv._run import UvVenvRunner as BaseRunner
except ImportError:  # tox without tox-uv: plain pip
    from tox.tox_env.python.virtual_env.runner import VirtualEnvRunner as BaseRunner  # type: ignore[assignment]

if TYPE_CHECKING:
    from tox.tox_env.register import ToxEnvRegister


class SharedRunner(BaseRunner):
    """A virtualenv runner whose cached info ignores the environment's name."""

    @staticmethod
    def id() -> str:
        return "shared"

    @property
    def cache(self) -> Info:
        return FilteredInfo(self.env_dir, filter_keys=["name"], filter_section=ToxEnv.__name__)


@impl
def tox_register_tox_env(register: ToxEnvRegister) -> None:
    register.add_run_env(SharedRunner)
