"""The platform a request wants: this machine's, in Go/OCI names, filled into what the request left empty.

``check`` (regex mode with ``created_at_sort``) and ``in`` pick an index's child by it (SPEC
B.2.3). It must never do I/O; the ``platform`` module (which compiles regexes on import) is
loaded only when the runtime's machine is asked for.
"""

from __future__ import annotations

from registry_image_resource.protocol.models import Platform

__all__ = ["resolved", "runtime_platform"]

# Python's ``platform.machine()`` names to Go's GOARCH (+ GOARM as the OCI variant).
_MACHINE_TO_GO: dict[str, tuple[str, str]] = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "i386": ("386", ""),
    "i486": ("386", ""),
    "i586": ("386", ""),
    "i686": ("386", ""),
    "x86": ("386", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armv8l": ("arm", "v7"),
    "armv7l": ("arm", "v7"),
    "armv7": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "armv5tel": ("arm", "v5"),
    "ppc64le": ("ppc64le", ""),
    "ppc64": ("ppc64", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
    "mips64": ("mips64", ""),
    "loongarch64": ("loong64", ""),
}


def runtime_platform(machine: str | None = None) -> Platform:
    """The platform of this machine in Go/OCI names (``x86_64`` -> ``amd64``); the OS is linux."""
    if machine is None:
        import platform as host_platform  # here, not at the top: it compiles regexes on import

        machine = host_platform.machine()
    name = machine.lower()
    architecture, variant = _MACHINE_TO_GO.get(name, (name, ""))
    return Platform(architecture=architecture, os="linux", variant=variant)


def resolved(wanted: Platform | None, runtime: Platform | None = None) -> Platform:
    """``wanted`` with an empty architecture or OS filled from the runtime (SPEC B.2.3).

    The runtime's variant comes along only with its architecture: ``{os: linux}`` on an armv7
    machine wants ``arm/v7``, but ``{architecture: arm}`` wants any arm variant.
    """
    own = runtime or runtime_platform()
    wanted = wanted or Platform()
    if wanted.architecture:
        architecture, variant = wanted.architecture, wanted.variant
    else:
        architecture, variant = own.architecture, wanted.variant or own.variant
    return Platform(architecture=architecture, os=wanted.os or own.os, variant=variant)
