"""The local Label Studio as an operating-system process: pid file, health, stop.

Helpers of :mod:`relabel.studio.server`: the pid file written next to the data folder, the
``/health`` probe, reading the server's log from an offset, and stopping its process group
(SIGTERM, then SIGKILL) without ever signalling a process that is not a Label Studio.
:func:`launch` starts it and waits until it answers on the port chosen.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from relabel.errors import StudioError

log = logging.getLogger(__name__)

#: Files written into the data folder next to Label Studio's own.
PID_FILE = "relabel-studio.pid"
LOG_FILE = "relabel-studio.log"


def pid_alive(pid: int) -> bool:
    """True while a process ``pid`` exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_label_studio(pid: int) -> bool:
    """Best-effort check that ``pid`` still is a Label Studio process (not a reused pid)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not Path("/proc/self/cmdline").exists():  # no procfs (macOS): trust the pid file
        return pid_alive(pid)
    for _ in range(10):  # empty while the process is still being set up
        try:
            text = cmdline.read_bytes()
        except OSError:
            return False
        if text:
            return b"label-studio" in text or b"label_studio" in text
        time.sleep(0.05)
    return False


def terminate_group(pid: int, timeout: float, proc: subprocess.Popen[bytes] | None) -> None:
    """Stop the process group of ``pid`` (SIGTERM, then SIGKILL after ``timeout`` s)."""

    def gone() -> bool:
        if proc is not None:
            return proc.poll() is not None
        try:  # reap it if it is our own child (else it would linger as a zombie)
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        return not pid_alive(pid)

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


def read_pid_file(data_dir: Path) -> dict[str, object]:
    """The pid file of ``data_dir`` (``{"pid", "port", "url"}``), or ``{}``."""
    try:
        data = json.loads((Path(data_dir) / PID_FILE).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def tail(path: Path, n: int = 40) -> str:
    """The last ``n`` lines of a log file (``"(no log)"`` when it cannot be read)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(lines[-n:])


def read_from(path: Path, offset: int) -> str:
    """The text of ``path`` from byte ``offset`` on (``""`` when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def health(url: str, timeout: float = 2.0) -> bool:
    """True when ``url/health`` answers ``UP``."""
    try:
        with urllib.request.urlopen(url + "/health", timeout=timeout) as resp:
            return resp.status == 200 and b"UP" in resp.read()
    except (OSError, urllib.error.URLError, ValueError):
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class PortTakenError(StudioError):
    """The port chosen for Label Studio was taken by another program."""


def _private(path: str, flags: int) -> int:
    """Open a file created for its owner only (``0600``)."""
    return os.open(path, flags, 0o600)


def launch_on_a_port(
    exe: Path, env: dict[str, str], data_dir: Path, port: int | None, timeout: float
) -> tuple[subprocess.Popen[bytes], int]:
    """:func:`launch` on ``port``, or on a free port (three tries, should one be taken
    meanwhile); return the process and its port."""
    attempts = 1 if port is not None else 3
    for attempt in range(1, attempts + 1):
        chosen = port if port is not None else free_port()
        try:
            return launch(exe, env, data_dir, chosen, timeout), chosen
        except PortTakenError:
            if attempt == attempts:
                raise
            log.info("port %d was taken meanwhile; trying another", chosen)
    raise AssertionError("unreachable")


def launch(
    exe: Path, env: dict[str, str], data_dir: Path, port: int, timeout: float
) -> subprocess.Popen[bytes]:
    """Start ``label-studio start`` on 127.0.0.1:``port`` in its own process group, write
    the pid file and wait until it is healthy (else stop it and raise)."""
    log_path = data_dir / LOG_FILE
    url = f"http://127.0.0.1:{port}"
    if health(url, timeout=0.5):
        raise PortTakenError(f"port {port} on 127.0.0.1 already answers: something else runs there")
    cmd = [str(exe), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)]
    log.info("starting Label Studio on %s (data %s, log %s)", url, data_dir, log_path)
    with open(log_path, "ab", opener=_private) as logf:
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
            umask=0o077,  # its database holds the admin's token: for its owner only
        )
    with open(data_dir / PID_FILE, "w", opener=_private) as pid_file:
        pid_file.write(json.dumps({"pid": proc.pid, "port": port, "url": url}))
    started = time.monotonic()
    try:
        wait_until_healthy(proc, port, log_path, start_offset, timeout)
    except BaseException:
        terminate_group(proc.pid, 10.0, proc)
        (data_dir / PID_FILE).unlink(missing_ok=True)
        raise
    log.info(
        "Label Studio is up at %s (pid %d) after %.1f s", url, proc.pid, time.monotonic() - started
    )
    return proc


def wait_until_healthy(
    proc: subprocess.Popen[bytes], port: int, log_path: Path, offset: int, timeout: float
) -> None:
    """Wait for ``/health`` on ``port``, then check that OUR process bound it (a busy port
    makes Label Studio silently take the next one)."""
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while True:
        if f"Port {port} is in use" in read_from(log_path, offset):
            raise PortTakenError(f"port {port} was taken before Label Studio could bind it")
        if proc.poll() is not None:
            raise StudioError(
                f"Label Studio exited with code {proc.returncode} while starting; "
                f"last lines of {log_path}:\n{tail(log_path)}"
            )
        if health(url):
            break
        if time.monotonic() - started > timeout:
            raise StudioError(
                f"Label Studio did not answer {url}/health within {timeout:.0f} s; "
                f"last lines of {log_path}:\n{tail(log_path)}"
            )
        time.sleep(0.5)
    bound = f"127.0.0.1:{port}/"
    deadline = time.monotonic() + 10
    while bound not in read_from(log_path, offset) and time.monotonic() < deadline:
        time.sleep(0.2)
    if bound not in read_from(log_path, offset):
        raise StudioError(
            f"{url}/health answers but the Label Studio started here did not report "
            f"binding port {port}; last lines of {log_path}:\n{tail(log_path)}"
        )
