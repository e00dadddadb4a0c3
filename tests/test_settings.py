"""Environment-driven settings: local defaults, DATA_DIR relocation, production checks."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )


def test_production_settings_pass_the_deploy_check_with_real_values(tmp_path):
    result = manage("check", "--deploy", env={
        "DJANGO_SETTINGS_MODULE": "portal.settings_production",
        "SECRET_KEY": "k" * 20 + "-Zq8#p2vL0s9xR!m4tY7wB1nC6eH3jA5uG",
        "ALLOWED_HOSTS": "images.example.org",
        "DATA_DIR": str(tmp_path),
    })
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    result = manage("check", env={
        "DJANGO_SETTINGS_MODULE": "portal.settings_production",
        "ALLOWED_HOSTS": "images.example.org",
        "DATA_DIR": str(tmp_path),
    })
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_data_dir_relocates_the_database_and_the_generated_secret(tmp_path):
    result = manage("migrate", "--noinput", env={"DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "db.sqlite3").stat().st_size > 0
    secret = (tmp_path / "secret_key").read_text()
    assert len(secret) >= 50 and oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
