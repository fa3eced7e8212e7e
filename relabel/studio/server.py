"""A local Label Studio server for the demo, the tests and CI.

The server lives in its OWN virtual environment (``pip install label-studio`` pins many
server packages); relabel itself only needs ``label-studio-sdk``. The venv is found
through :envvar:`RELABEL_STUDIO_VENV` (default ``$XDG_DATA_HOME/relabel/studio-venv``,
i.e. ``~/.local/share/relabel/studio-venv``).

:func:`start_server` starts ``label-studio start`` bound to 127.0.0.1 on a free port with
a CLEAN environment (Label Studio also reads plain names such as ``PORT``, ``HOST`` or
``DEBUG``), analytics, version checks and Sentry off: nothing leaves the machine. The
admin user and its legacy API token are created on the first start of a data folder.

Label Studio's first start on an empty data folder migrates its database (30-90 s). A
folder migrated once per Label Studio version is cached (:func:`template_dir`; made by
:func:`install_server`, or by the first start) and copied into each new data folder
(:func:`seed_data_dir`), which then starts in seconds.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from relabel.errors import StudioError
from relabel.infra.atomic import atomic_path
from relabel.studio.process import (
    LOG_FILE,
    PID_FILE,
    free_port,
    is_label_studio,
    launch_on_a_port,
    pid_alive,
    read_pid_file,
    terminate_group,
)
from relabel.studio.urls import refuse_placeholder

if TYPE_CHECKING:
    from relabel.studio.client import StudioClient

__all__ = [
    "DATABASE",
    "DEFAULT_VERSION",
    "LOCAL_UPLOAD_BATCH",
    "LOG_FILE",
    "PID_FILE",
    "VENV_ENV",
    "LocalServer",
    "default_venv",
    "free_port",
    "install_server",
    "installed_version",
    "seed_data_dir",
    "server_status",
    "start_server",
    "stop_server",
    "template_dir",
]

log = logging.getLogger(__name__)

#: The Label Studio release relabel is tested with.
DEFAULT_VERSION = "1.23.2"
#: Environment variable naming the venv that holds the Label Studio server.
VENV_ENV = "RELABEL_STUDIO_VENV"
#: Label Studio's SQLite database in a data folder: there once the folder was started.
DATABASE = "label_studio.sqlite3"
#: Never copied from the template: Label Studio's ``.env`` (its SECRET_KEY, which signs
#: sessions and JWTs: each data folder makes its own) and relabel's pid file and log.
_NOT_COPIED = (".env", PID_FILE, LOG_FILE)

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
    """Install ``label-studio==version`` into its own venv unless it is already there, and
    migrate its database once into the cached template (:func:`seed_data_dir`).

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
        The venv could not be created, pip failed (the message ends with pip's output) or
        the server that makes the template did not start (the message ends with its log).
    """
    venv_dir = Path(venv_dir).expanduser().resolve()
    exe = _executable(venv_dir, "label-studio")
    have = installed_version(venv_dir)
    if have == version:
        log.debug("label-studio %s already installed in %s", version, venv_dir)
    else:
        _pip_install(venv_dir, version, have)
    _template(venv_dir, version, _HEALTH_TIMEOUT_S)  # about a minute, once per version
    return exe


def _pip_install(venv_dir: Path, version: str, have: str | None) -> None:
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
    if installed_version(venv_dir) != version or not _executable(venv_dir, "label-studio").exists():
        raise StudioError(f"label-studio {version} is still missing from {venv_dir} after pip")
    log.info("label-studio %s installed in %s", version, venv_dir)


def _run_or_raise(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise StudioError(f"could not {what} (exit {proc.returncode}):\n{tail}")


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
        return pid_alive(self.pid)

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the server's process group, wait, and kill it if it lingers."""
        terminate_group(self.pid, timeout, self._proc)
        pid_file = self.data_dir / PID_FILE
        if read_pid_file(self.data_dir).get("pid") == self.pid:
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
    info = read_pid_file(Path(data_dir))
    pid = info.get("pid")
    if not isinstance(pid, int) or not pid_alive(pid) or not is_label_studio(pid):
        return None
    return info


def _server_env(
    venv_dir: Path,
    data_dir: Path,
    *,
    admin: tuple[str, str, str] | None,
    document_root: Path | None,
) -> dict[str, str]:
    """The clean environment of ``label-studio start``; ``admin``: (user, password, token)
    created on the first start of ``data_dir`` (None: no user, as for the template)."""
    env = {
        "PATH": os.pathsep.join([str(_bin_dir(venv_dir)), os.environ.get("PATH", "/usr/bin:/bin")]),
        "HOME": os.environ.get("HOME", str(data_dir)),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PYTHONUNBUFFERED": "1",  # so the log shows the bound port at once
        "DJANGO_DB": "sqlite",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        # webhooks to 127.0.0.1 are refused (403) unless SSRF protection is off
        "SSRF_PROTECTION_ENABLED": "false",
        # ... and so are model backends on 127.0.0.1 (relabel serve) unless this is off
        "ML_BLOCK_LOCAL_IP": "false",
        # Label Studio's own switch that puts its SQLite database in WAL mode: uploads
        # and imports get about 30 % faster and concurrent readers stop blocking writers.
        "AZURE_MOUNT_FIX": "true",
        # more files per upload request than the default 100 (see LocalServer.client)
        "DATA_UPLOAD_MAX_NUMBER_FILES": str(LOCAL_UPLOAD_BATCH),
    }
    if admin is not None:
        env["LABEL_STUDIO_USERNAME"], env["LABEL_STUDIO_PASSWORD"] = admin[0], admin[1]
        env["LABEL_STUDIO_USER_TOKEN"] = admin[2]
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
    seed: bool = True,
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
    seed : bool
        Fill a ``data_dir`` that was never started with a copy of the cached, migrated
        data folder of this Label Studio version (:func:`seed_data_dir`; made on first
        use). The admin and token are created by this start all the same.

    Returns
    -------
    LocalServer

    Raises
    ------
    ConfigError
        The token or password still holds ``.env.example``'s ``change-me`` placeholder.
    StudioError
        No venv, a server already running for ``data_dir``, the process died, the port
        was taken or the server did not become healthy (the message ends with the log).
    """
    refuse_placeholder("the Label Studio token", token)  # before anything is written
    refuse_placeholder("the admin's password", password)
    venv_dir = Path(venv_dir).expanduser().resolve()
    data_dir = Path(data_dir).expanduser().resolve()
    exe = _startable(venv_dir, data_dir, token)
    if document_root is not None:
        document_root = Path(document_root).expanduser().resolve()
        if not document_root.is_dir():
            raise StudioError(f"the document root {document_root} is not a folder")
    if seed:
        seed_data_dir(venv_dir, data_dir, timeout=timeout)
    data_dir.mkdir(parents=True, exist_ok=True)
    make_private(data_dir)
    env = _server_env(
        venv_dir, data_dir, admin=(username, password, token), document_root=document_root
    )
    proc, port = launch_on_a_port(exe, env, data_dir, port, timeout)
    server = LocalServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        pid=proc.pid,
        username=username,
        data_dir=data_dir,
        document_root=document_root,
        venv_dir=venv_dir,
        token=token,
        password=password,
        _proc=proc,
    )
    if not _token_accepted(server.url, token):
        server.stop()
        raise StudioError(
            f"Label Studio started from {data_dir} refuses the token given: the admin "
            f"and its token are created on the FIRST start of a data folder only, so "
            f"{data_dir} belongs to another token. Pass that token or use a fresh "
            "data folder."
        )
    return server


def make_private(data_dir: Path) -> None:
    """Give the data folder to its owner alone: ``0700`` for it and its folders, ``0600``
    for its files (the SQLite database holds the admin's token and password hash).

    A folder seeded from the template, or started by an older relabel, is tightened too;
    what the server writes later is created with umask ``077`` (Django gives uploaded
    images ``0644``, inside the private folder).
    """
    for path in [data_dir, *data_dir.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode & 0o7777
        if mode & 0o077:
            path.chmod(mode & ~0o077)


def _startable(venv_dir: Path, data_dir: Path, token: str) -> Path:
    """The ``label-studio`` executable, once the start's preconditions hold."""
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
    return exe


# ---------------------------------------------------------------------------------------
# The migrated data folder, cached per Label Studio version
# ---------------------------------------------------------------------------------------


def template_dir(version: str) -> Path:
    """The cached, migrated data folder of Label Studio ``version``.

    ``$XDG_CACHE_HOME/relabel/label-studio/VERSION`` (``~/.cache/relabel/...``). It holds
    the migrated database and no user, token, password or secret key; deleting it is
    safe (the next start makes it again).
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relabel" / "label-studio" / version


def seed_data_dir(venv_dir: Path, data_dir: Path, *, timeout: float = _HEALTH_TIMEOUT_S) -> bool:
    """Fill a never-started data folder with a copy of the migrated template.

    Label Studio's first start on an empty folder spends 30-90 s migrating its database;
    the migrations only depend on the Label Studio version, so they run once per version,
    into :func:`template_dir` (made here on first use, under a file lock). The template is
    made by starting the server on an empty folder WITHOUT an admin, waiting until it is
    healthy and stopping it: it holds no user, no token and no password, and its ``.env``
    (the secret key) is not kept. The admin, its password and its token are then created
    by the first start of the copy, from the environment, as on an empty folder; the copy
    makes its own secret key.

    Parameters
    ----------
    venv_dir : Path
        The venv holding Label Studio (its version names the template).
    data_dir : Path
        The data folder to fill; created if missing.
    timeout : float
        Seconds to wait for ``/health`` while the template is made.

    Returns
    -------
    bool
        True when the template was copied; False when ``data_dir`` already has a
        database (it is left as it is) or the venv has no Label Studio.

    Raises
    ------
    StudioError
        The server that makes the template did not start (the message ends with its log).
    """
    venv_dir, data_dir = Path(venv_dir).expanduser().resolve(), Path(data_dir).expanduser()
    if (data_dir / DATABASE).exists():
        return False
    version = installed_version(venv_dir)
    if version is None:
        return False
    template = _template(venv_dir, version, timeout)
    shutil.copytree(
        template, data_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*_NOT_COPIED)
    )
    log.debug("Label Studio data folder %s copied from %s", data_dir, template)
    return True


def _template(venv_dir: Path, version: str, timeout: float) -> Path:
    """The template of ``version``, made first when missing (one process at a time)."""
    template = template_dir(version)
    if (template / DATABASE).is_file():
        return template
    template.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(template.parent / f"{version}.lock"):
        if (template / DATABASE).is_file():  # another process made it meanwhile
            return template
        shutil.rmtree(template, ignore_errors=True)  # without its database: unusable
        log.info(
            "migrating a Label Studio %s database once (about a minute; kept in %s)",
            version,
            template,
        )
        with atomic_path(template) as partial:
            shutil.rmtree(partial, ignore_errors=True)  # left by a killed attempt
            try:
                _migrate(venv_dir, partial, timeout)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
    return template


def _migrate(venv_dir: Path, folder: Path, timeout: float) -> None:
    """Start Label Studio on the empty ``folder`` with no admin, then stop it."""
    folder.mkdir(parents=True)
    env = _server_env(venv_dir, folder, admin=None, document_root=None)
    proc, _ = launch_on_a_port(_executable(venv_dir, "label-studio"), env, folder, None, timeout)
    terminate_group(proc.pid, 20.0, proc)
    for name in _NOT_COPIED:
        (folder / name).unlink(missing_ok=True)
    if not (folder / DATABASE).is_file():
        raise StudioError(f"Label Studio started from {folder} but wrote no {DATABASE}")


def stop_server(data_dir: Path, timeout: float = 20.0) -> bool:
    """Stop the server started from ``data_dir`` (found by its pid file).

    Returns
    -------
    bool
        True if a running server was stopped, False if none was running.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    info = read_pid_file(data_dir)
    pid = info.get("pid")
    pid_file = data_dir / PID_FILE
    if not isinstance(pid, int) or not pid_alive(pid) or not is_label_studio(pid):
        pid_file.unlink(missing_ok=True)
        return False
    terminate_group(pid, timeout, None)
    pid_file.unlink(missing_ok=True)
    log.info("Label Studio (pid %d, %s) stopped", pid, info.get("url"))
    return True
