"""The deployment files: docker-compose.yml, the worker image and its entrypoint.

No Docker engine is needed: ``scripts/validate-compose.sh`` validates the compose file with
docker-compose 1.29.2 from a cached venv (created on first use, about 20 s), also with the
``ray`` profile (Ray head and workers), the worker's entrypoint loop is run directly with a fake
``relabel`` command and the Ray nodes' ``docker/ray-start.sh`` with a fake ``ray``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
VALIDATE = ROOT / "scripts" / "validate-compose.sh"
ENTRYPOINT = ROOT / "docker" / "worker-entrypoint.sh"
RAY_START = ROOT / "docker" / "ray-start.sh"
DOCKERFILE = ROOT / "docker" / "worker.Dockerfile"
DOCKERIGNORE = ROOT / "docker" / "worker.Dockerfile.dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
COMPOSE_VENV = Path(os.environ.get("RELABEL_COMPOSE_VENV", ROOT / ".venv-compose"))
DUMMY = "dummy-validate-compose-not-a-secret"
SECRET_KEY = re.compile(r"PASSWORD|TOKEN|API_KEY|SECRET|DSN", re.IGNORECASE)
REQUIRED_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]+\}")
BASE_SERVICES = {"db", "label-studio", "relabel-worker"}
RAY_SERVICES = {"ray-head", "ray-worker"}


def _validate(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(VALIDATE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def validated(compose_venv: Path) -> None:
    """The validation passed once (the session's ``compose_venv`` ran it)."""
    assert (compose_venv / "bin" / "docker-compose").is_file()


@pytest.fixture(scope="module")
def resolved(validated: None) -> dict[str, Any]:
    """The configuration docker-compose resolves, with dummy values for required variables."""
    result = _validate("--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def resolved_ray(validated: None) -> dict[str, Any]:
    """The configuration with the ``ray`` profile and the image built with the ray extra."""
    result = _validate("--profile", "ray", "--env", "RELABEL_EXTRAS=ray", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def raw(validated: None) -> dict[str, Any]:
    """docker-compose.yml as written (no interpolation), parsed by the compose venv's PyYAML."""
    code = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)"
    result = subprocess.run(
        [str(COMPOSE_VENV / "bin" / "python"), "-c", code, str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


# --- the compose file ------------------------------------------------------------------------


def test_validation_script_passes(validated: None) -> None:
    result = _validate()
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr


def test_services(resolved: dict[str, Any]) -> None:
    # docker-compose 1.29's `config` lists the services of every profile.
    assert set(resolved["services"]) == BASE_SERVICES | RAY_SERVICES


def _started_by_up(services: dict[str, Any], profiles: set[str]) -> set[str]:
    """The services `docker compose [--profile P]... up` starts (the Compose spec's rule)."""
    started = {
        n for n, s in services.items() if not s.get("profiles") or set(s["profiles"]) & profiles
    }
    for name in started:
        for dep in services[name].get("depends_on", {}):
            assert dep in started, f"{name} depends on {dep}, which that `up` does not start"
    return started


def test_ray_profile(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name in RAY_SERVICES:
        assert services[name]["profiles"] == ["ray"], name
    for name in BASE_SERVICES:
        assert "profiles" not in services[name], name
    # `docker compose up` starts what it did before; `--profile ray up` adds the Ray nodes.
    assert _started_by_up(services, set()) == BASE_SERVICES
    assert _started_by_up(services, {"ray"}) == BASE_SERVICES | RAY_SERVICES


def test_ray_profile_validates(validated: None) -> None:
    result = _validate("--profile", "ray")
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stderr
    result = _validate("--profile", "ray", "--without", "RELABEL_IMAGES_DIR")
    assert result.returncode == 1 and "RELABEL_IMAGES_DIR" in result.stderr


def test_ray_nodes_use_the_worker_image(
    resolved: dict[str, Any], resolved_ray: dict[str, Any]
) -> None:
    for config, extras in ((resolved, ""), (resolved_ray, "ray")):
        worker = config["services"]["relabel-worker"]
        # By default the image is built as before, without extras.
        assert worker["build"]["args"] == {"RELABEL_EXTRAS": extras}
        for name in RAY_SERVICES:
            node = config["services"][name]
            # One image for the driver and the nodes: Ray needs the same Ray and Python.
            assert node["image"] == worker["image"] == "relabel-worker:0.1.0"
            assert node["build"] == worker["build"], name


def test_ray_nodes_mount_the_worker_paths(resolved_ray: dict[str, Any]) -> None:
    services = resolved_ray["services"]
    worker_mounts = services["relabel-worker"]["volumes"]
    targets = {v.split(":")[1]: v for v in worker_mounts}
    assert targets["/srv/relabel/images"].startswith("/nonexistent/validate-compose/")
    assert targets["/srv/relabel/images"].endswith(":ro")
    assert targets["/state"] == "relabel-state:/state:rw"
    assert targets["/home/relabel/.ray"] == "ray-auth:/home/relabel/.ray:rw"
    assert "ray-auth" in resolved_ray["volumes"]
    for name in RAY_SERVICES:
        # Ray workers read the image files and the project's run folder by path.
        assert services[name]["volumes"] == worker_mounts, name


def test_ray_nodes(resolved_ray: dict[str, Any]) -> None:
    services = resolved_ray["services"]
    head, node = services["ray-head"], services["ray-worker"]
    assert head["command"][:2] == ["relabel-ray-start", "--head"]
    for arg in ("--port=6379", "--ray-client-server-port=10001", "--include-dashboard=false"):
        assert arg in head["command"]
    assert node["command"][:2] == ["relabel-ray-start", "--address=ray-head:6379"]
    for command in (head["command"], node["command"]):
        assert command[-1] == "--block" and "--disable-usage-stats" in command
    assert head["healthcheck"]["test"][:3] == ["CMD", "ray", "health-check"]
    assert node["depends_on"] == {"ray-head": {"condition": "service_healthy"}}
    for name in ("ray-head", "ray-worker", "relabel-worker"):
        assert _env(services[name])["RAY_AUTH_MODE"] == "token", name
    for service in (head, node):
        # Scalable (no fixed name), unpublished, an init to reap Ray's processes, and a
        # /dev/shm for the object store.
        assert "container_name" not in service and "ports" not in service
        assert service["init"] is True
        assert service["shm_size"] == "2gb"
        assert service["restart"] == "unless-stopped"


def test_images_are_pinned(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        image = service["image"]
        repo, sep, tag = image.rpartition(":")
        assert sep and repo and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.match(r"\d", tag), f"{name}: {image!r} is not a version"
    services = resolved["services"]
    assert services["label-studio"]["image"] == "heartexlabs/label-studio:1.23.2"
    assert re.fullmatch(r"postgres:\d+\.\d+-alpine", services["db"]["image"])
    dockerfile = DOCKERFILE.read_text()
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
    assert base and re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", base.group(1)), base


def test_no_literal_secrets(raw: dict[str, Any]) -> None:
    for name, service in raw["services"].items():
        for key, value in _env(service).items():
            if SECRET_KEY.search(key) and value not in ("", "true", "false"):
                assert REQUIRED_REF.fullmatch(value), (
                    f"{name}: {key} must come from the environment as ${{VAR:?message}}, "
                    f"not {value!r}"
                )
    for key in ("SENTRY_DSN", "FRONTEND_SENTRY_DSN"):
        assert _env(raw["services"]["label-studio"])[key] == ""


def test_secrets_reach_the_services_from_the_environment(resolved: dict[str, Any]) -> None:
    worker = _env(resolved["services"]["relabel-worker"])
    studio = _env(resolved["services"]["label-studio"])
    db = _env(resolved["services"]["db"])
    assert worker["LABEL_STUDIO_API_KEY"] == DUMMY
    assert worker["LABEL_STUDIO_URL"] == "http://label-studio:8080"
    assert studio["LABEL_STUDIO_USER_TOKEN"] == DUMMY
    assert studio["POSTGRE_PASSWORD"] == db["POSTGRES_PASSWORD"] == DUMMY


def test_label_studio_settings(resolved: dict[str, Any]) -> None:
    studio = resolved["services"]["label-studio"]
    env = _env(studio)
    assert env["DJANGO_DB"] == "default"
    assert env["POSTGRE_HOST"] == "db" and env["POSTGRE_PORT"] == "5432"
    assert env["POSTGRE_NAME"] and env["POSTGRE_USER"]
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    assert env["COLLECT_ANALYTICS"] == "false" and env["LATEST_VERSION_CHECK"] == "false"
    assert env["LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED"] == "true"
    root = env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"]
    mounts = [v.split(":") for v in studio["volumes"]]
    images = [m for m in mounts if m[0] == "/nonexistent/validate-compose/RELABEL_IMAGES_DIR"]
    assert len(images) == 1 and images[0][2] == "ro"
    assert images[0][1].startswith(root.rstrip("/") + "/"), "images must be under the doc root"
    assert any(m[1] == "/label-studio/data" for m in mounts)
    assert studio["depends_on"]["db"]["condition"] == "service_healthy"
    assert "/health" in " ".join(studio["healthcheck"]["test"])
    assert resolved["services"]["db"]["healthcheck"]["test"][0] == "CMD-SHELL"


def test_worker_settings(resolved: dict[str, Any]) -> None:
    worker = resolved["services"]["relabel-worker"]
    studio = resolved["services"]["label-studio"]
    assert worker["build"]["dockerfile"] == "docker/worker.Dockerfile"
    assert worker["depends_on"]["label-studio"]["condition"] == "service_healthy"
    env = _env(worker)
    assert env["RELABEL_INTERVAL"] == "900"
    assert env["RELABEL_PROJECT"] == "/state/project"
    mounts = [v.split(":") for v in worker["volumes"]]
    image_mounts = [m for m in mounts if m[0].endswith("RELABEL_IMAGES_DIR")]
    assert len(image_mounts) == 1 and image_mounts[0][2] == "ro"
    # Same path in both containers, so local-files URLs computed by the worker resolve.
    studio_images = [v.split(":")[1] for v in studio["volumes"] if "RELABEL_IMAGES_DIR" in v]
    assert image_mounts[0][1] == studio_images[0]
    assert any(m[1] == "/state" and m[2] == "rw" for m in mounts)
    assert "ports" not in worker and "ports" not in resolved["services"]["db"]


def test_ports_bound_to_loopback(resolved: dict[str, Any]) -> None:
    published = [
        (name, port) for name, s in resolved["services"].items() for port in s.get("ports", [])
    ]
    assert published == [("label-studio", "127.0.0.1:8080:8080/tcp")]


@pytest.mark.parametrize(
    "var",
    [
        "POSTGRES_PASSWORD",
        "LABEL_STUDIO_API_KEY",
        "LABEL_STUDIO_ADMIN_EMAIL",
        "LABEL_STUDIO_ADMIN_PASSWORD",
        "RELABEL_IMAGES_DIR",
    ],
)
def test_missing_required_variable_fails(validated: None, var: str) -> None:
    result = _validate("--without", var)
    assert result.returncode != 0
    assert var in result.stderr and "INVALID" in result.stderr


def test_required_variables_are_documented(validated: None) -> None:
    required = set(REQUIRED_REF.findall(COMPOSE_FILE.read_text()))
    assert required == {
        "POSTGRES_PASSWORD",
        "LABEL_STUDIO_API_KEY",
        "LABEL_STUDIO_ADMIN_EMAIL",
        "LABEL_STUDIO_ADMIN_PASSWORD",
        "RELABEL_IMAGES_DIR",
    }
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert set(example) == required
    for key, value in example.items():
        if SECRET_KEY.search(key):
            assert value.startswith("change-me"), f".env.example: {key} must be a placeholder"


def test_schema_errors_are_caught(validated: None, tmp_path: Path) -> None:
    text = COMPOSE_FILE.read_text()
    good = tmp_path / "good.yml"
    good.write_text(text)
    assert _validate(str(good)).returncode == 0  # the copy itself is valid
    bad = tmp_path / "bad.yml"
    bad.write_text(text.replace("    restart: unless-stopped\n", "    restartt: always\n", 1))
    result = _validate(str(bad))
    assert result.returncode == 1
    assert "restartt" in result.stderr


# --- the worker entrypoint --------------------------------------------------------------------

FAKE_RELABEL = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_DIR/calls"
code=$(head -n 1 "$FAKE_DIR/codes")
sed -i 1d "$FAKE_DIR/codes"
case $code in
sleep) echo $$ > "$FAKE_DIR/sleep.pid"; exec sleep 30 ;;
stop | "") kill -TERM "$PPID"; exit 0 ;;
*) exit "$code" ;;
esac
"""


@pytest.fixture
def worker_env(tmp_path: Path) -> dict[str, str]:
    fake = tmp_path / "relabel"
    fake.write_text(FAKE_RELABEL)
    fake.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    (project / "relabel.toml").write_text('[project]\nname = "t"\n')
    return {
        "PATH": os.environ["PATH"],
        "FAKE_DIR": str(tmp_path),
        "RELABEL_BIN": str(fake),
        "RELABEL_PROJECT": str(project),
        "RELABEL_INTERVAL": "0.05",
        "RELABEL_STATUS_DIR": str(tmp_path / "status"),
        "LABEL_STUDIO_URL": "http://label-studio:8080",
        "LABEL_STUDIO_API_KEY": "dummy",
    }


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("script", [ENTRYPOINT, RAY_START], ids=lambda p: p.name)
def test_container_script_syntax(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert os.access(script, os.X_OK)
    assert script.read_text().startswith("#!/usr/bin/env bash\n")


def test_entrypoint_loop_exit_codes(worker_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "codes").write_text("0\n3\n4\n5\n7\n1\n6\nstop\n")
    worker_env["RELABEL_MIN_REVIEWS"] = "2"
    result = subprocess.run(
        ["bash", str(ENTRYPOINT)], env=worker_env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [f"cycle {worker_env['RELABEL_PROJECT']} --json-logs --min-reviews 2"] * 8
    records = [r for r in _json_lines(result.stderr) if "outcome" in r]
    assert [r["exit_code"] for r in records] == [0, 3, 4, 5, 7, 1, 6]
    assert [r["level"] for r in records] == ["INFO"] * 3 + ["WARNING"] + ["ERROR"] * 3
    assert [r["outcome"] for r in records][:5] == [
        "done",
        "waiting_for_reviews",
        "nothing_to_do",
        "locked",
        "label_studio_unavailable",
    ]
    assert [r.get("consecutive_errors") for r in records[4:]] == [1, 2, 3]
    assert _json_lines(result.stderr)[-1]["message"] == "worker stopped"
    # Three failures in a row: unhealthy at the default threshold, healthy above it.
    health = subprocess.run(
        ["bash", str(ENTRYPOINT), "health"], env=worker_env, capture_output=True, text=True
    )
    assert health.returncode == 1 and "3 failed cycles" in health.stderr
    worker_env["RELABEL_UNHEALTHY_AFTER"] = "4"
    assert subprocess.run(["bash", str(ENTRYPOINT), "health"], env=worker_env).returncode == 0


def test_entrypoint_success_resets_errors(worker_env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "codes").write_text("1\n1\n3\nstop\n")
    result = subprocess.run(
        ["bash", str(ENTRYPOINT)], env=worker_env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    status = (tmp_path / "status" / "status").read_text()
    assert "consecutive_errors=0" in status
    assert subprocess.run(["bash", str(ENTRYPOINT), "health"], env=worker_env).returncode == 0


@pytest.mark.parametrize("phase", ["cycle", "sleep"])
def test_entrypoint_stops_promptly_on_sigterm(
    worker_env: dict[str, str], tmp_path: Path, phase: str
) -> None:
    (tmp_path / "codes").write_text("sleep\n" if phase == "cycle" else "0\n")
    worker_env["RELABEL_INTERVAL"] = "30"
    proc = subprocess.Popen(
        ["bash", str(ENTRYPOINT)],
        env=worker_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        marker = tmp_path / ("sleep.pid" if phase == "cycle" else "calls")
        deadline = time.monotonic() + 10
        while not (marker.exists() and marker.read_text().strip()):
            assert time.monotonic() < deadline, "the loop never started a cycle"
            time.sleep(0.02)
        time.sleep(0.2)  # now inside the cycle, or sleeping between cycles
        proc.send_signal(signal.SIGTERM)
        # the cycle (sleep 30) and the interval (30 s) are far longer than this bound: a
        # worker that waited for either to end would not exit within it
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert _json_lines(stderr)[-1]["message"] == "worker stopped"
    assert len((tmp_path / "calls").read_text().splitlines()) == 1  # no cycle after the stop
    if phase == "cycle":
        pid = int((tmp_path / "sleep.pid").read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # the running cycle was stopped too
        assert "interrupted" in stderr


def test_entrypoint_missing_project_keeps_looping(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    worker_env["RELABEL_PROJECT"] = str(tmp_path / "absent")
    worker_env["RELABEL_UNHEALTHY_AFTER"] = "2"
    proc = subprocess.Popen(
        ["bash", str(ENTRYPOINT)], env=worker_env, stderr=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.6)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    errors = [r for r in _json_lines(stderr) if r["level"] == "ERROR"]
    assert len(errors) >= 2 and "relabel init" in errors[0]["message"]
    assert not (tmp_path / "calls").exists()
    health = subprocess.run(["bash", str(ENTRYPOINT), "health"], env=worker_env)
    assert health.returncode == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("RELABEL_INTERVAL", "0"),
        ("RELABEL_INTERVAL", "soon"),
        ("RELABEL_MIN_REVIEWS", "-1"),
        ("LABEL_STUDIO_API_KEY", ""),
    ],
)
def test_entrypoint_rejects_bad_settings(worker_env: dict[str, str], key: str, value: str) -> None:
    worker_env[key] = value
    result = subprocess.run(
        ["bash", str(ENTRYPOINT)], env=worker_env, capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 6
    assert key in _json_lines(result.stderr)[0]["message"]


def test_entrypoint_runs_other_commands(worker_env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), "printf", "%s|", "relabel", "init"],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 0 and result.stdout == "relabel|init|"


def test_dockerfile_installs_the_package_and_the_entrypoint() -> None:
    text = DOCKERFILE.read_text()
    install = re.search(r"pip install -c /tmp/constraints\.txt (\"[^\"]+\")", text)
    assert install, "the package is installed with the Ray pin as a constraint"
    assert re.search(r'^ARG RELABEL_EXTRAS=""$', text, re.MULTILINE)
    assert re.search(r"^ARG RAY_VERSION=2\.60\.0$", text, re.MULTILINE)
    # What the RUN's /bin/sh installs: "." by default (the image as before), ".[ray]" with Ray.
    for extras, spec in (("", "."), ("ray", ".[ray]"), ("ray,dev", ".[ray,dev]")):
        shell = subprocess.run(
            ["sh", "-c", f"printf '%s' {install.group(1)}"],
            env={"PATH": os.environ["PATH"], "RELABEL_EXTRAS": extras},
            capture_output=True,
            text=True,
            check=True,
        )
        assert shell.stdout == spec
    assert "COPY docker/worker-entrypoint.sh /usr/local/bin/relabel-worker" in text
    assert "COPY docker/ray-start.sh /usr/local/bin/relabel-ray-start" in text
    assert "!docker/ray-start.sh" in DOCKERIGNORE.read_text().splitlines()
    assert "install -d -m 0700 -o relabel -g relabel /home/relabel/.ray" in text
    assert re.search(r"RAY_USAGE_STATS_ENABLED=0", text)
    assert 'ENTRYPOINT ["/usr/local/bin/relabel-worker"]' in text
    user = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert user and user[-1] not in {"root", "0"}


# --- the Ray nodes' `ray start` (docker/ray-start.sh) -----------------------------------------

FAKE_RAY = """#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$FAKE_DIR/ray-calls"
if [[ $1 == get-auth-token ]]; then
    mkdir -p "$HOME/.ray" && printf 'SECRET-TOKEN' > "$HOME/.ray/auth_token"
    printf 'SECRET-TOKEN'
fi
"""


@pytest.fixture
def ray_env(tmp_path: Path) -> dict[str, str]:
    fake = tmp_path / "ray"
    fake.write_text(FAKE_RAY)
    fake.chmod(0o755)
    (tmp_path / "home").mkdir()
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "FAKE_DIR": str(tmp_path),
        "RAY_BIN": str(fake),
        # A stand-in for /dev/shm (a CI container's may be only 64 MB).
        "RELABEL_SHM_DIR": str(tmp_path),
    }


def _ray_start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(RAY_START), *args], env=env, capture_output=True, text=True, timeout=30
    )


def _ray_calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "ray-calls").read_text().splitlines()


def test_ray_start_sizes_the_object_store_to_shm(ray_env: dict[str, str], tmp_path: Path) -> None:
    shm = os.statvfs(tmp_path)
    before = shm.f_frsize * shm.f_bavail
    result = _ray_start(ray_env, "--address=ray-head:6379", "--block")
    assert result.returncode == 0, result.stderr
    [call] = _ray_calls(tmp_path)
    match = re.fullmatch(r"start --object-store-memory=(\d+) --address=ray-head:6379 --block", call)
    assert match, call
    store = int(match.group(1))
    shm = os.statvfs(tmp_path)
    free = max(before, shm.f_frsize * shm.f_bavail)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 75 * 2**20 <= store <= free * 0.9 and store <= memory * 0.3


def test_ray_start_keeps_a_given_object_store_size(ray_env: dict[str, str], tmp_path: Path) -> None:
    result = _ray_start(ray_env, "--object-store-memory=123456789", "--address=h:6379")
    assert result.returncode == 0, result.stderr
    assert _ray_calls(tmp_path) == ["start --object-store-memory=123456789 --address=h:6379"]


def test_ray_start_head_creates_the_token(ray_env: dict[str, str], tmp_path: Path) -> None:
    ray_env["RAY_AUTH_MODE"] = "token"
    result = _ray_start(ray_env, "--head", "--port=6379", "--block")
    assert result.returncode == 0, result.stderr
    calls = _ray_calls(tmp_path)
    assert calls[0] == "get-auth-token --generate"
    assert calls[1].startswith("start --object-store-memory=") and calls[1].endswith(
        " --head --port=6379 --block"
    )
    assert "SECRET-TOKEN" not in result.stdout + result.stderr  # never printed
    assert (tmp_path / "home" / ".ray" / "auth_token").stat().st_mode & 0o077 == 0
    # Workers only read the token; without token mode the head creates none.
    (tmp_path / "ray-calls").unlink()
    assert _ray_start(ray_env, "--address=ray-head:6379").returncode == 0
    del ray_env["RAY_AUTH_MODE"]
    assert _ray_start(ray_env, "--head").returncode == 0
    assert not any(c.startswith("get-auth-token") for c in _ray_calls(tmp_path))


def test_ray_start_without_ray(ray_env: dict[str, str], tmp_path: Path) -> None:
    ray_env["RAY_BIN"] = str(tmp_path / "no-ray")
    result = _ray_start(ray_env, "--head", "--block")
    assert result.returncode == 1
    assert "RELABEL_EXTRAS=ray" in result.stderr and "--profile ray build" in result.stderr
