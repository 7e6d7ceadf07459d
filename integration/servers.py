"""Real servers for the integration tests: the CNCF distribution registry and moto.

Owns starting and stopping them: a ``registry:2`` container through testcontainers when a Docker
engine is reachable, else the Debian ``docker-registry`` binary as a loopback process with a
generated config (in-memory storage, optional bcrypt htpasswd auth or token auth with the token
server of ``integration.token_server``, optional TLS from a generated CA); ``python -m moto.server``
for ECR/STS. Everything started here is stopped here, by PID or
container id, including when a test fails.

It must never bind anything but loopback, never use a fixed port, and never leave a process or a
container behind. It knows nothing of pytest: ``conftest.py`` turns these into fixtures and
decides between skip and fail.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import bcrypt
import requests
import trustme

from integration.token_server import BearerAuth, TokenServer, serve_tokens

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REGISTRY_BINARY = "/usr/bin/docker-registry"
CONTAINER_PORT = 5000


class ServerUnavailable(Exception):
    """A server cannot be started here (binary missing, no Docker); the message says which."""


class ServerFailed(Exception):
    """A server was started but did not come up; the message carries the tail of its log."""


@dataclass(frozen=True, slots=True)
class RegistryServer:
    """A running registry as tests see it.

    ``host`` is ``127.0.0.1:PORT`` (what goes in a repository name), ``url`` the base URL with
    scheme. ``ca_file`` sits alone in its directory as ``ca.crt`` so that directory doubles as a
    ``--cert-dir`` for skopeo.
    """

    host: str
    url: str
    username: str | None = None
    password: str | None = None
    ca_pem: str | None = None
    ca_file: Path | None = None
    backend: str = "binary"
    token_realm: str | None = None

    @property
    def tls(self) -> bool:
        return self.url.startswith("https://")

    @property
    def auth(self) -> tuple[str, str] | None:
        """``(username, password)`` for requests, or None."""
        if self.username is None or self.password is None:
            return None
        return (self.username, self.password)

    @property
    def request_auth(self) -> requests.auth.AuthBase | tuple[str, str] | None:
        """The ``auth=`` argument for requests: Basic credentials, or with token auth a
        ``BearerAuth`` that gets a token from the realm with them."""
        if self.token_realm is not None:
            return BearerAuth(self.username, self.password)
        return self.auth

    @property
    def verify(self) -> str | bool:
        """The ``verify=`` argument for requests: the CA file for TLS, True otherwise."""
        return str(self.ca_file) if self.ca_file is not None else True

    def repository(self, path: str) -> str:
        """The full repository name, e.g. ``127.0.0.1:5000/test/x``."""
        return f"{self.host}/{path}"

    def skopeo_args(self, side: str) -> list[str]:
        """skopeo flags to reach this registry as ``side`` (``src`` or ``dest``)."""
        if side not in ("src", "dest"):
            raise ValueError(f"side must be 'src' or 'dest', not {side!r}")
        args = [f"--{side}-tls-verify=false"] if not self.tls else []
        if self.ca_file is not None:
            args += [f"--{side}-cert-dir", str(self.ca_file.parent)]
        if self.username is not None and self.password is not None:
            args += [f"--{side}-creds", f"{self.username}:{self.password}"]
        return args


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """What variant of registry to start.

    ``users`` maps user name to password: with ``auth="basic"`` bcrypt htpasswd auth when not
    empty; with ``auth="bearer"`` distribution's token auth, its tokens from a token server of
    ``integration.token_server`` for those users, on loopback for as long as the registry runs
    (the registry itself never calls it: it checks the tokens' signatures). ``tls_hosts``
    turns TLS on with a server certificate for those names (IP addresses or DNS names) signed by
    ``ca`` (a fresh CA when None). ``client_ca`` makes the registry require client certificates
    signed by that CA (mTLS). ``storage_dir`` switches from in-memory to filesystem storage.
    """

    users: Mapping[str, str] = field(default_factory=dict)
    tls_hosts: Sequence[str] = ()
    ca: trustme.CA | None = None
    client_ca: trustme.CA | None = None
    storage_dir: Path | None = None
    realm: str = "test-registry"
    auth: Literal["basic", "bearer"] = "basic"


DEFAULT_TLS_HOSTS = ("127.0.0.1", "::1", "localhost")


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out on ``host``; the caller retries if someone takes it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def random_password() -> str:
    return secrets.token_urlsafe(18)


def write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    """bcrypt entries, the only hash the distribution registry accepts."""
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
        for user, pw in users.items()
    ]
    path.write_text("".join(lines))


def yaml_quote(value: str) -> str:
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    import json

    return json.dumps(value)


def registry_config(
    *,
    addr: str,
    config_dir: str,
    users: bool,
    tls: bool,
    client_ca: bool,
    storage_dir: str | None,
    realm: str,
    tokens: TokenServer | None = None,
) -> str:
    """The distribution registry config.yml; paths are as the registry process sees them.

    ``tokens`` switches from htpasswd to token auth (its certificate in ``token-signer.crt``).
    """
    lines = [
        "version: 0.1",
        "log:",
        "  level: info",
        "  formatter: text",
        "storage:",
    ]
    if storage_dir is None:
        lines += ["  inmemory: {}"]
    else:
        lines += ["  filesystem:", f"    rootdirectory: {yaml_quote(storage_dir)}"]
    lines += [
        "  delete:",
        "    enabled: true",
        "  maintenance:",
        "    uploadpurging:",
        "      enabled: false",
        "http:",
        f"  addr: {yaml_quote(addr)}",
        f"  secret: {yaml_quote(secrets.token_hex(16))}",
        "  headers:",
        "    X-Content-Type-Options: [nosniff]",
    ]
    if tls:
        lines += [
            "  tls:",
            f"    certificate: {yaml_quote(config_dir + '/server.crt')}",
            f"    key: {yaml_quote(config_dir + '/server.key')}",
        ]
        if client_ca:
            lines += ["    clientcas:", f"      - {yaml_quote(config_dir + '/client-ca.crt')}"]
    if tokens is not None:
        lines += [
            "auth:",
            "  token:",
            f"    realm: {yaml_quote(tokens.realm)}",
            f"    service: {yaml_quote(tokens.service)}",
            f"    issuer: {yaml_quote(tokens.issuer)}",
            f"    rootcertbundle: {yaml_quote(config_dir + '/token-signer.crt')}",
        ]
    elif users:
        lines += [
            "auth:",
            "  htpasswd:",
            f"    realm: {yaml_quote(realm)}",
            f"    path: {yaml_quote(config_dir + '/htpasswd')}",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class PreparedConfig:
    """The files of one registry variant, written to ``config_dir``."""

    config_dir: Path
    ca_pem: str | None
    ca_file: Path | None


def prepare_files(
    workdir: Path, options: RegistryOptions, tokens: TokenServer | None = None
) -> PreparedConfig:
    """Write htpasswd or the token signer's certificate, TLS certificates and the CA file;
    config.yml is written by the starter."""
    config_dir = workdir / "config"
    config_dir.mkdir(parents=True)
    if tokens is not None:
        (config_dir / "token-signer.crt").write_bytes(tokens.certificate_pem)
    elif options.users:
        write_htpasswd(config_dir / "htpasswd", options.users)
    ca_pem: str | None = None
    ca_file: Path | None = None
    if options.tls_hosts:
        ca = options.ca if options.ca is not None else trustme.CA()
        cert = ca.issue_cert(*options.tls_hosts)
        cert.cert_chain_pems[0].write_to_path(str(config_dir / "server.crt"))
        for extra in cert.cert_chain_pems[1:]:
            extra.write_to_path(str(config_dir / "server.crt"), append=True)
        cert.private_key_pem.write_to_path(str(config_dir / "server.key"))
        (config_dir / "server.key").chmod(0o600)
        ca_dir = workdir / "ca"
        ca_dir.mkdir()
        ca_file = ca_dir / "ca.crt"
        ca.cert_pem.write_to_path(str(ca_file))
        ca_pem = ca.cert_pem.bytes().decode()
        if options.client_ca is not None:
            options.client_ca.cert_pem.write_to_path(str(config_dir / "client-ca.crt"))
    return PreparedConfig(config_dir=config_dir, ca_pem=ca_pem, ca_file=ca_file)


def wait_ready(
    url: str,
    *,
    verify: str | bool,
    alive: Callable[[], str | None],
    timeout: float = READY_TIMEOUT,
    cert: tuple[str, str] | None = None,
) -> None:
    """Poll ``url`` until it answers any HTTP status below 500, within ``timeout`` seconds.

    ``alive`` returns None while the server runs, or why it stopped (then we stop waiting).
    """
    deadline = time.monotonic() + timeout
    last_error = "no answer yet"
    with requests.Session() as session:
        session.trust_env = False
        while time.monotonic() < deadline:
            stopped = alive()
            if stopped is not None:
                raise ServerFailed(stopped)
            try:
                response = session.get(url, verify=verify, cert=cert, timeout=2)
            except requests.RequestException as exc:
                last_error = str(exc)
            else:
                if response.status_code < 500:
                    return
                last_error = f"HTTP {response.status_code}"
            time.sleep(0.05)
    raise ServerFailed(f"{url} not ready after {timeout:.0f}s: {last_error}")


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True, slots=True)
class LoopbackProcess:
    """A server process we started; ``stop`` ends it and its process group by PID."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> str | None:
        code = self.process.poll()
        if code is None:
            return None
        return f"exited with {code}:\n{log_tail(self.log)}"

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        else:
            # the leader is gone; make sure nothing it forked lingers in its group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


def spawn(
    argv: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> LoopbackProcess:
    """Start ``argv`` in its own process group (so stop() reaches its children), output to ``log``.

    On Linux the child also gets SIGTERM when the process that started it dies, so a test run
    killed with SIGKILL (where no teardown runs) leaves no server behind either.
    """
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,  # noqa: PLW1509
        )
    return LoopbackProcess(process=process, log=log)


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: ask the kernel for SIGTERM when our parent thread exits."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@contextlib.contextmanager
def serve_process(
    argv_for_port: Callable[[int], Sequence[str]],
    ready_url_for_port: Callable[[int], str],
    log: Path,
    *,
    verify: str | bool = True,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    attempts: int = 3,
    prepare: Callable[[int], None] | None = None,
    cert: tuple[str, str] | None = None,
) -> Iterator[tuple[LoopbackProcess, int]]:
    """Start a loopback server on a free port, wait until ready, yield it, always stop it.

    Retries on a new port when the process dies during start-up (another test process may have
    taken the port between our bind and its bind).
    """
    failure = ""
    for _ in range(attempts):
        port = free_port()
        if prepare is not None:
            prepare(port)
        proc = spawn(argv_for_port(port), log, env=env, cwd=cwd)
        try:
            wait_ready(ready_url_for_port(port), verify=verify, alive=proc.exited, cert=cert)
        except ServerFailed as exc:
            proc.stop()
            failure = str(exc)
            if "address already in use" in failure:
                continue
            raise ServerFailed(f"{' '.join(argv_for_port(port))}: {failure}") from None
        except BaseException:
            proc.stop()
            raise
        try:
            yield proc, port
        finally:
            proc.stop()
        return
    raise ServerFailed(f"{' '.join(argv_for_port(0))}: no free port after {attempts} attempts: {failure}")


# --- the distribution registry ------------------------------------------------------------------


def docker_reachable() -> bool:
    """True when a Docker engine answers ``/_ping`` (DOCKER_HOST or the default socket)."""
    docker_host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if docker_host.startswith("unix://"):
        path = docker_host.removeprefix("unix://")
        if not Path(path).exists():
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect(path)
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                return sock.recv(64).split(b" ")[1:2] == [b"200"]
        except OSError:
            return False
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
    except Exception:
        return False
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def docker_has_bridge() -> bool:
    """True when the engine has Docker's default ``bridge`` network (published ports work)."""
    import docker

    client = docker.from_env(timeout=10)
    try:
        return bool(client.networks.list(names=["bridge"]))
    finally:
        client.close()


def registry_backend() -> str:
    """``docker`` or ``binary``: ``REGISTRY_BACKEND`` when set, else docker if reachable."""
    wanted = os.environ.get("REGISTRY_BACKEND", "auto").strip().lower()
    if wanted in ("docker", "binary"):
        return wanted
    if wanted != "auto":
        raise ServerUnavailable(f"REGISTRY_BACKEND must be auto, docker or binary, not {wanted!r}")
    return "docker" if docker_reachable() else "binary"


def server_for(
    host: str, options: RegistryOptions, prepared: PreparedConfig, backend: str, tokens: TokenServer | None
) -> RegistryServer:
    scheme = "https" if options.tls_hosts else "http"
    users = list(options.users.items())
    username, password = users[0] if users else (None, None)
    return RegistryServer(
        host=host,
        url=f"{scheme}://{host}",
        username=username,
        password=password,
        ca_pem=prepared.ca_pem,
        ca_file=prepared.ca_file,
        backend=backend,
        token_realm=tokens.realm if tokens is not None else None,
    )


def readiness_client_cert(workdir: Path, options: RegistryOptions) -> tuple[str, str] | None:
    """With mTLS the readiness probe needs a client certificate of its own."""
    if options.client_ca is None:
        return None
    cert = options.client_ca.issue_cert("readiness-probe")
    path = workdir / "probe.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(path))
    return (str(path), str(path))


@contextlib.contextmanager
def binary_registry(
    workdir: Path, options: RegistryOptions, tokens: TokenServer | None = None
) -> Iterator[RegistryServer]:
    """The Debian ``docker-registry`` on a free loopback port."""
    binary = shutil.which("docker-registry") or (REGISTRY_BINARY if Path(REGISTRY_BINARY).exists() else None)
    if binary is None:
        raise ServerUnavailable(
            "docker-registry binary not found (apt-get install docker-registry) and no Docker engine reachable"
        )
    prepared = prepare_files(workdir, options, tokens)
    config = prepared.config_dir / "config.yml"
    scheme = "https" if options.tls_hosts else "http"

    def write_config(port: int) -> None:
        config.write_text(
            registry_config(
                addr=f"127.0.0.1:{port}",
                config_dir=str(prepared.config_dir),
                users=bool(options.users),
                tls=bool(options.tls_hosts),
                client_ca=options.client_ca is not None,
                storage_dir=str(options.storage_dir) if options.storage_dir is not None else None,
                realm=options.realm,
                tokens=tokens,
            )
        )

    # the registry reads no proxy or OTEL settings we care about; keep its env minimal
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}
    verify: str | bool = str(prepared.ca_file) if prepared.ca_file is not None else True
    with serve_process(
        lambda _port: [binary, "serve", str(config)],
        lambda port: f"{scheme}://127.0.0.1:{port}/v2/",
        workdir / "registry.log",
        verify=verify,
        env=env,
        cwd=workdir,
        prepare=write_config,
        cert=readiness_client_cert(workdir, options),
    ) as (_proc, port):
        yield server_for(f"127.0.0.1:{port}", options, prepared, "binary", tokens)


@contextlib.contextmanager
def container_registry(
    workdir: Path, options: RegistryOptions, tokens: TokenServer | None = None
) -> Iterator[RegistryServer]:
    """``registry:2`` (or ``REGISTRY_IMAGE``) through testcontainers, config bind-mounted."""
    if not docker_reachable():
        raise ServerUnavailable("REGISTRY_BACKEND=docker but no Docker engine answers (DOCKER_HOST)")
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # we stop what we start ourselves
    try:
        from testcontainers.core.container import DockerContainer
    except ImportError as exc:
        raise ServerUnavailable(f"testcontainers not importable: {exc}") from exc
    image = os.environ.get("REGISTRY_IMAGE", "registry:2")
    prepared = prepare_files(workdir, options, tokens)
    inner = "/etc/docker/registry"
    # An engine without the default bridge (CI's: dockerd --bridge=none) cannot publish ports:
    # the registry then shares the host's network and listens on a free loopback port itself.
    host_network = not docker_has_bridge()
    addr = f"127.0.0.1:{free_port()}" if host_network else f"0.0.0.0:{CONTAINER_PORT}"
    (prepared.config_dir / "config.yml").write_text(
        registry_config(
            addr=addr,
            config_dir=inner,
            users=bool(options.users),
            tls=bool(options.tls_hosts),
            client_ca=options.client_ca is not None,
            storage_dir="/var/lib/registry" if options.storage_dir is not None else None,
            realm=options.realm,
            tokens=tokens,
        )
    )
    for path in prepared.config_dir.iterdir():
        path.chmod(0o644)  # the container may run as another user
    container = DockerContainer(image).with_volume_mapping(str(prepared.config_dir), inner, "ro")
    container = container.with_command(f"{inner}/config.yml")
    if options.storage_dir is not None:
        container = container.with_volume_mapping(str(options.storage_dir), "/var/lib/registry", "rw")
    if host_network:
        container = container.with_kwargs(network_mode="host")
    else:
        # published on loopback only, on a port Docker picks (docker-py's (host_ip, host_port) form)
        ports: dict[str, Any] = container.ports
        ports[f"{CONTAINER_PORT}/tcp"] = ("127.0.0.1", None)
    try:
        container.start()
        if host_network:
            host = addr
        else:
            host_ip = container.get_container_host_ip()
            port = int(container.get_exposed_port(CONTAINER_PORT))
            host = f"{host_ip}:{port}" if ":" not in host_ip else f"[{host_ip}]:{port}"
        server = server_for(host, options, prepared, "docker", tokens)

        def stopped() -> str | None:
            container.reload()
            if container.status in ("exited", "dead"):
                out, err = container.get_logs()
                return f"container exited:\n{(out + err).decode(errors='replace')[-2000:]}"
            return None

        wait_ready(
            f"{server.url}/v2/",
            verify=server.verify,
            alive=stopped,
            cert=readiness_client_cert(workdir, options),
        )
        yield server
    finally:
        container.stop()


@contextlib.contextmanager
def start_registry(workdir: Path, options: RegistryOptions | None = None) -> Iterator[RegistryServer]:
    """A registry variant, in Docker or as a local process (see ``registry_backend``), with its
    token server when ``options.auth`` is ``"bearer"``."""
    options = options if options is not None else RegistryOptions()
    if options.auth == "bearer" and not options.users:
        raise ValueError("auth='bearer' needs users (a token server for nobody grants nothing)")
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        tokens = (
            stack.enter_context(serve_tokens(options.users, options.realm))
            if options.auth == "bearer"
            else None
        )
        if registry_backend() == "docker":
            server = stack.enter_context(container_registry(workdir, options, tokens))
        else:
            server = stack.enter_context(binary_registry(workdir, options, tokens))
        yield server


# --- moto --------------------------------------------------------------------------------------


MOTO_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def aws_env(endpoint: str) -> dict[str, str]:
    """Environment for boto3 (in-process or in a subprocess) to talk only to moto at ``endpoint``."""
    return {
        **MOTO_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """``python -m moto.server`` on a free loopback port; yields its URL."""
    try:
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise ServerUnavailable(f"moto server not installed (pip install 'moto[server]'): {exc}") from exc
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "MOTO_CALL_RESET_API": "true"}
    env.pop("AWS_ENDPOINT_URL", None)
    with serve_process(
        lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        lambda port: f"http://127.0.0.1:{port}/moto-api/",
        workdir / "moto.log",
        env=env,
        cwd=workdir,
    ) as (_proc, port):
        yield f"http://127.0.0.1:{port}"


def reset_moto(endpoint: str) -> None:
    """Forget every AWS resource moto holds (its reset API)."""
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()


# --- command-line tools ------------------------------------------------------------------------


def find_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ServerUnavailable(
            f"{name} not found on PATH (apt-get install {DEBIAN_PACKAGE.get(name, name)})"
        )
    return path


DEBIAN_PACKAGE = {
    "htpasswd": "apache2-utils",
    "notary-server": "notary",
    "docker-registry": "docker-registry",
}


def run_tool(
    name: str,
    *args: str,
    timeout: float = 120,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command-line tool with text output; on failure raise with its stdout and stderr."""
    argv = [find_tool(name), *args]
    result = subprocess.run(
        argv,
        input=input.decode() if input is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def skopeo_copy(src: str, dst: str, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``skopeo --insecure-policy copy [extra...] src dst`` (no policy.json or auth.json involved)."""
    return run_tool("skopeo", "--insecure-policy", "copy", "--quiet", *extra, src, dst, timeout=timeout)
