"""A local Label Studio server for the demo, the tests and CI.

The server lives in its OWN virtual environment (``pip install label-studio`` pins many
server packages); relabel itself only needs ``label-studio-sdk``. The venv is found
through :envvar:`RELABEL_STUDIO_VENV` (default ``$XDG_DATA_HOME/relabel/studio-venv``,
i.e. ``~/.local/share/relabel/studio-venv``).

:func:`start_server` starts ``label-studio start`` bound to 127.0.0.1 on a free port with
a CLEAN environment (Label Studio also reads plain names such as ``PORT``, ``HOST`` or
``DEBUG``), analytics, version checks and Sentry off: nothing leaves the machine. The
admin user and its legacy API token are created on the first start of a data folder.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from relabel.errors import StudioError

if TYPE_CHECKING:
    from relabel.studio.client import StudioClient

log = logging.getLogger(__name__)

#: The Label Studio release relabel is tested with.
DEFAULT_VERSION = "1.23.2"
#: Environment variable naming the venv that holds the Label Studio server.
VENV_ENV = "RELABEL_STUDIO_VENV"
#: Files written into the data folder next to Label Studio's own.
PID_FILE = "relabel-studio.pid"
LOG_FILE = "relabel-studio.log"

_HEALTH_TIMEOUT_S = 180.0
#: Files per upload request a server started here accepts (Label Studio's default: 100).
LOCAL_UPLOAD_BATCH = 500


def default_venv() -> Path:
    """Return the venv of the local Label Studio server.

    ``$RELABEL_STUDIO_VENV`` when set, else ``$XDG_DATA_HOME/relabel/studio-venv``
    (``~/.local/share/relabel/studio-venv``).
    """
    env = os.environ.get(VENV_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "relabel" / "studio-venv"


def _bin_dir(venv_dir: Path) -> Path:
    return venv_dir / ("Scripts" if os.name == "nt" else "bin")


def _executable(venv_dir: Path, name: str) -> Path:
    return _bin_dir(venv_dir) / (name + (".exe" if os.name == "nt" else ""))


def installed_version(venv_dir: Path) -> str | None:
    """Return the label-studio version installed in ``venv_dir``, or None."""
    python = _executable(venv_dir, "python")
    if not python.exists() or not _executable(venv_dir, "label-studio").exists():
        return None
    proc = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() or None


def install_server(venv_dir: Path, version: str = DEFAULT_VERSION) -> Path:
    """Install ``label-studio==version`` into its own venv unless it is already there.

    Parameters
    ----------
    venv_dir : Path
        The venv to create or reuse.
    version : str
        The Label Studio release.

    Returns
    -------
    Path
        The ``label-studio`` executable.

    Raises
    ------
    StudioError
        The venv could not be created or pip failed (the message ends with pip's output).
    """
    venv_dir = Path(venv_dir).expanduser().resolve()
    exe = _executable(venv_dir, "label-studio")
    have = installed_version(venv_dir)
    if have == version:
        log.debug("label-studio %s already installed in %s", version, venv_dir)
        return exe
    if not _executable(venv_dir, "python").exists():
        log.info("creating a venv for Label Studio in %s", venv_dir)
        venv_dir.parent.mkdir(parents=True, exist_ok=True)
        _run_or_raise([sys.executable, "-m", "venv", str(venv_dir)], "create the venv")
    log.info(
        "installing label-studio==%s into %s (about 1 GB, a minute or two)%s",
        version,
        venv_dir,
        f"; replacing {have}" if have else "",
    )
    _run_or_raise(
        [
            str(_executable(venv_dir, "python")),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"label-studio=={version}",
        ],
        f"pip install label-studio=={version}",
    )
    if installed_version(venv_dir) != version or not exe.exists():
        raise StudioError(f"label-studio {version} is still missing from {venv_dir} after pip")
    log.info("label-studio %s installed in %s", version, venv_dir)
    return exe


def _run_or_raise(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise StudioError(f"could not {what} (exit {proc.returncode}):\n{tail}")


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class LocalServer:
    """A Label Studio process started by :func:`start_server`.

    The token and password are kept for :meth:`client` but never shown by ``repr``.
    """

    url: str
    port: int
    pid: int
    username: str
    data_dir: Path
    document_root: Path | None = None
    venv_dir: Path | None = None
    token: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def log_file(self) -> Path:
        """The server's stdout/stderr."""
        return self.data_dir / LOG_FILE

    def client(self, **kwargs: object) -> StudioClient:
        """Return a :class:`~relabel.studio.client.StudioClient` for this server."""
        from relabel.studio.client import StudioClient

        kwargs.setdefault("document_root", self.document_root)
        kwargs.setdefault("upload_batch_size", LOCAL_UPLOAD_BATCH)
        return StudioClient(self.url, self.token, **kwargs)  # type: ignore[arg-type]

    def alive(self) -> bool:
        """True while the server process runs."""
        if self._proc is not None:
            return self._proc.poll() is None
        return _pid_alive(self.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the server's process group, wait, and kill it if it lingers."""
        _terminate_group(self.pid, timeout, self._proc)
        pid_file = self.data_dir / PID_FILE
        if _read_pid_file(self.data_dir).get("pid") == self.pid:
            pid_file.unlink(missing_ok=True)
        log.info("Label Studio (pid %d) stopped", self.pid)

    def restart(self, port: int | None = None, timeout: float = _HEALTH_TIMEOUT_S) -> None:
        """Stop the server and start it again from the same data folder and token.

        This object is updated in place (``url``, ``port``, ``pid``), so whoever holds it
        stops the new process. Clients made before keep the old URL.

        Parameters
        ----------
        port : int, optional
            The new port; default: a free one (usually another port: a server move).
        timeout : float
            Seconds to wait for ``/health``.
        """
        self.stop()
        new = start_server(
            self.venv_dir or default_venv(),
            self.data_dir,
            port=port,
            username=self.username,
            password=self.password,
            token=self.token,
            document_root=self.document_root,
            timeout=timeout,
        )
        self.url, self.port, self.pid, self._proc = new.url, new.port, new.pid, new._proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_label_studio(pid: int) -> bool:
    """Best-effort check that ``pid`` still is a Label Studio process (not a reused pid)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self/cmdline").exists():  # no procfs (macOS): trust the pid file
        return _pid_alive(pid)
    for _ in range(10):  # empty while the process is still being set up
        try:
            text = cmdline.read_bytes()
        except OSError:
            return False
        if text:
            return b"label-studio" in text or b"label_studio" in text
        time.sleep(0.05)
    return False


def _terminate_group(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> None:
    def gone() -> bool:
        if proc is not None:
            return proc.poll() is not None
        try:  # reap it if it is our own child (else it would linger as a zombie)
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        return not _pid_alive(pid)

    if gone():
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)  # started with start_new_session: pgid == pid
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            if gone():
                return
            time.sleep(0.1)
        if sig == signal.SIGTERM:
            log.warning("Label Studio (pid %d) ignored SIGTERM; killing it", pid)


def _read_pid_file(data_dir: Path) -> dict[str, object]:
    try:
        data = json.loads((Path(data_dir) / PID_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _tail(path: Path, n: int = 40) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def _health(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as resp:
            return resp.status == 200 and b"UP" in resp.read()
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _token_accepted(url: str, token: str) -> bool:
    req = urllib.request.Request(
        url + "/api/current-user/whoami", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return False
        raise StudioError(f"{url}/api/current-user/whoami answered HTTP {exc.code}") from None
    except OSError as exc:
        raise StudioError(f"{url} stopped answering right after it started: {exc}") from None


def server_status(data_dir: Path) -> dict[str, object] | None:
    """Return ``{"pid", "port", "url"}`` of the server started from ``data_dir``, or None.

    None when no pid file exists or its process is gone.
    """
    info = _read_pid_file(Path(data_dir))
    pid = info.get("pid")
    if not isinstance(pid, int) or not _pid_alive(pid) or not _is_label_studio(pid):
        return None
    return info


def _server_env(
    venv_dir: Path,
    data_dir: Path,
    *,
    username: str,
    password: str,
    token: str,
    document_root: Path | None,
) -> dict[str, str]:
    env = {
        "PATH": os.pathsep.join([str(_bin_dir(venv_dir)), os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": os.environ.get("HOME", str(data_dir)),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONUNBUFFERED": "1",  # so the log shows the bound port at once
        "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_USERNAME": username,
        "LABEL_STUDIO_PASSWORD": password,
        "LABEL_STUDIO_USER_TOKEN": token,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        # webhooks to 127.0.0.1 are refused (403) unless SSRF protection is off
        "SSRF_PROTECTION_ENABLED": "false",
        # Label Studio's own switch that puts its SQLite database in WAL mode: uploads
        # and imports get about 30 % faster and concurrent readers stop blocking writers.
        "AZURE_MOUNT_FIX": "true",
        # more files per upload request than the default 100 (see LocalServer.client)
        "DATA_UPLOAD_MAX_NUMBER_FILES": str(LOCAL_UPLOAD_BATCH),
    }
    if document_root is not None:
        env["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] = "true"
        env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] = str(document_root)
    return env


def start_server(
    venv_dir: Path,
    data_dir: Path,
    *,
    port: int | None = None,
    username: str,
    password: str,
    token: str,
    document_root: Path | None = None,
    timeout: float = _HEALTH_TIMEOUT_S,
) -> LocalServer:
    """Start Label Studio on 127.0.0.1 and wait until it is healthy.

    Parameters
    ----------
    venv_dir : Path
        The venv holding Label Studio (see :func:`install_server`, :func:`default_venv`).
    data_dir : Path
        Label Studio's data folder (database, uploads); also receives
        ``relabel-studio.log`` and ``relabel-studio.pid``.
    port : int, optional
        The port; default: a free one. A busy port is an error (Label Studio itself
        would silently move to the next one).
    username, password : str
        The admin user (an e-mail address) created on the first start of ``data_dir``.
    token : str
        The admin's legacy API token (more than 5 characters), created on the first start.
        It is passed in the environment only: never logged, never written to a file.
    document_root : Path, optional
        Folder Label Studio may serve local files from (``local-files`` image mode).
    timeout : float
        Seconds to wait for ``/health`` (a fresh database takes about 30 s).

    Returns
    -------
    LocalServer

    Raises
    ------
    StudioError
        No venv, a server already running for ``data_dir``, the process died, the port
        was taken or the server did not become healthy (the message ends with the log).
    """
    venv_dir = Path(venv_dir).expanduser().resolve()
    data_dir = Path(data_dir).expanduser().resolve()
    exe = _executable(venv_dir, "label-studio")
    if not exe.exists():
        raise StudioError(
            f"no Label Studio in {venv_dir}: run `relabel studio install` "
            f"(or set {VENV_ENV} to a venv with label-studio)"
        )
    if len(token) <= 5:
        raise StudioError("the Label Studio token must be longer than 5 characters")
    running = server_status(data_dir)
    if running is not None:
        raise StudioError(
            f"a Label Studio server started from {data_dir} is already running at "
            f"{running.get('url')} (pid {running.get('pid')}); stop it first "
            f"(relabel studio stop --data-dir {data_dir})"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    if document_root is not None:
        document_root = Path(document_root).expanduser().resolve()
        if not document_root.is_dir():
            raise StudioError(f"the document root {document_root} is not a folder")
    env = _server_env(
        venv_dir,
        data_dir,
        username=username,
        password=password,
        token=token,
        document_root=document_root,
    )
    attempts = 1 if port is not None else 3
    last: StudioError | None = None
    for _ in range(attempts):
        chosen = port if port is not None else free_port()
        try:
            server = _launch(exe, env, data_dir, chosen, timeout)
        except _PortTakenError as exc:
            last = exc
            if port is not None:
                break
            log.info("port %d was taken meanwhile; trying another", chosen)
            continue
        server.username, server.token, server.password = username, token, password
        server.document_root = document_root
        server.venv_dir = venv_dir
        if not _token_accepted(server.url, token):
            server.stop()
            raise StudioError(
                f"Label Studio started from {data_dir} refuses the token given: the admin "
                f"and its token are created on the FIRST start of a data folder only, so "
                f"{data_dir} belongs to another token. Pass that token or use a fresh "
                "data folder."
            )
        return server
    assert last is not None
    raise last


class _PortTakenError(StudioError):
    pass


def _launch(
    exe: Path, env: dict[str, str], data_dir: Path, port: int, timeout: float
) -> LocalServer:
    log_path = data_dir / LOG_FILE
    url = f"http://127.0.0.1:{port}"
    if _health(url, timeout=0.5):
        raise _PortTakenError(
            f"port {port} on 127.0.0.1 already answers: something else runs there"
        )
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]
    log.info("starting Label Studio on %s (data %s, log %s)", url, data_dir, log_path)
    with open(log_path, "ab") as logf:
        logf.write(f"\n=== relabel: starting Label Studio on {url} ===\n".encode())
        logf.flush()
        start_offset = logf.tell()
        proc = subprocess.Popen(
            cmd,
            cwd=str(data_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LocalServer(
        url=url, port=port, pid=proc.pid, username="", data_dir=data_dir, _proc=proc
    )
    (data_dir / PID_FILE).write_text(json.dumps({"pid": proc.pid, "port": port, "url": url}))
    started = time.monotonic()
    moved_marker = f"Port {port} is in use"
    try:
        while True:
            text = _read_from(log_path, start_offset)
            if moved_marker in text:
                raise _PortTakenError(f"port {port} was taken before Label Studio could bind it")
            if proc.poll() is not None:
                raise StudioError(
                    f"Label Studio exited with code {proc.returncode} while starting; "
                    f"last lines of {log_path}:\n{_tail(log_path)}"
                )
            if _health(url):
                break
            if time.monotonic() - started > timeout:
                raise StudioError(
                    f"Label Studio did not answer {url}/health within {timeout:.0f} s; "
                    f"last lines of {log_path}:\n{_tail(log_path)}"
                )
            time.sleep(0.5)
        # /health answered on our port: make sure it is OUR process that bound it
        bound = f"127.0.0.1:{port}/"
        deadline = time.monotonic() + 10
        while bound not in _read_from(log_path, start_offset) and time.monotonic() < deadline:
            time.sleep(0.2)
        if bound not in _read_from(log_path, start_offset):
            raise StudioError(
                f"{url}/health answers but the Label Studio started here did not report "
                f"binding port {port}; last lines of {log_path}:\n{_tail(log_path)}"
            )
    except BaseException:
        _terminate_group(proc.pid, 10.0, proc)
        (data_dir / PID_FILE).unlink(missing_ok=True)
        raise
    log.info(
        "Label Studio is up at %s (pid %d) after %.1f s", url, proc.pid, time.monotonic() - started
    )
    return server


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def stop_server(data_dir: Path, timeout: float = 20.0) -> bool:
    """Stop the server started from ``data_dir`` (found by its pid file).

    Returns
    -------
    bool
        True if a running server was stopped, False if none was running.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    info = _read_pid_file(data_dir)
    pid = info.get("pid")
    pid_file = data_dir / PID_FILE
    if not isinstance(pid, int) or not _pid_alive(pid) or not _is_label_studio(pid):
        pid_file.unlink(missing_ok=True)
        return False
    _terminate_group(pid, timeout, None)
    pid_file.unlink(missing_ok=True)
    log.info("Label Studio (pid %d, %s) stopped", pid, info.get("url"))
    return True
