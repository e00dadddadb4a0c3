"""Where web server and workers share a host, the workers run at a lower CPU priority in every way
the portal is started: `make run` (Procfile), the systemd units, Docker Compose."""
import re
import shlex
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


def unit(name: str) -> dict[str, str]:
    text = (ROOT / "deploy" / "systemd" / name).read_text()
    return dict(re.findall(r"^(\w+)=(.*)$", text, flags=re.MULTILINE))


def test_make_run_starts_every_worker_niced_and_the_web_server_not():
    processes = procfile()
    workers = {name: cmd for name, cmd in processes.items() if "celery" in cmd and " worker " in cmd}
    assert set(workers) == {"worker", "worker_max"}
    for command in workers.values():
        words = shlex.split(command)
        assert words[:3] == ["nice", "-n", "10"] and "celery" in words[3]
    assert "nice" not in shlex.split(processes["web"])


def test_the_systemd_worker_unit_runs_below_the_web_unit():
    worker, web = unit("image-portal-worker.service"), unit("image-portal-web.service")
    assert int(worker["Nice"]) > int(web.get("Nice", 0))
    assert int(worker["CPUWeight"]) < int(web.get("CPUWeight", 100))  # systemd's default weight is 100


def test_compose_gives_the_workers_fewer_cpu_shares_than_the_web_server():
    services = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    web_shares = services["web"].get("cpu_shares", 1024)  # Docker's default weight
    for name in ("worker", "worker-max"):
        assert services[name]["cpu_shares"] < web_shares, name
