"""Environment-driven settings: local defaults, DATA_DIR relocation, production checks."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JOB_KEY = "j" * 16 + "-Zq8#p2vL0s9xR!m4tY7wB1nC6eH3jA5uG"


def manage(*args, env):
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "VAULT_JOB_KEY"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **env},
        capture_output=True, text=True, timeout=120,
    )


def test_production_settings_pass_the_deploy_check_with_real_values(tmp_path):
    result = manage("check", "--deploy", env={
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": "k" * 20 + "-Zq8#p2vL0s9xR!m4tY7wB1nC6eH3jA5uG",
        "VAULT_JOB_KEY": JOB_KEY,
        "ALLOWED_HOSTS": "images.example.org",
        "DATA_DIR": str(tmp_path),
    })
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout



def test_production_settings_start_with_sentry_on(tmp_path):
    # The settings import the Sentry hook's module, which registers a metrics collector: that
    # must not read the settings still being imported.
    result = manage("check", env={
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": "k" * 20 + "-Zq8#p2vL0s9xR!m4tY7wB1nC6eH3jA5uG",
        "VAULT_JOB_KEY": JOB_KEY,
        "ALLOWED_HOSTS": "images.example.org",
        "DATA_DIR": str(tmp_path),
        "SENTRY_DSN": "https://public@o0.ingest.sentry.io/1",
    })
    assert result.returncode == 0, result.stdout + result.stderr

def test_production_settings_refuse_to_start_without_a_shared_job_key(tmp_path):
    result = manage("check", env={
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": "k" * 20 + "-Zq8#p2vL0s9xR!m4tY7wB1nC6eH3jA5uG",
        "ALLOWED_HOSTS": "images.example.org",
        "DATA_DIR": str(tmp_path),
    })
    assert result.returncode != 0
    assert "VAULT_JOB_KEY must be set" in result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key(tmp_path):
    result = manage("check", env={
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
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
    job_key = (tmp_path / "job_key").read_text()
    assert len(job_key) >= 32 and job_key != secret and oct((tmp_path / "job_key").stat().st_mode)[-3:] == "600"


def test_every_environment_variable_the_code_reads_is_documented_for_operators():
    import re

    pattern = re.compile(r"""(?:env_bool|env_int|env_list|environ\.get|environ\[|getenv)\(?\s*["']([A-Z][A-Z0-9_]+)["']""")
    sources = [*(ROOT / "portal").rglob("*.py"), ROOT / "gunicorn.conf.py"]
    read = {name for path in sources for name in pattern.findall(path.read_text())}
    assert {"SECRET_KEY", "TRUSTED_PROXY_COUNT", "WEB_CONCURRENCY", "AWS_S3_ENDPOINT_URL"} <= read
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "docs" / "deploy.md").read_text()))
    assert read - documented == set()


def test_production_settings_refuse_a_weak_secret_key_or_a_wildcard_host(tmp_path):
    weak = manage("check", env={
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": "django-insecure-" + "x" * 40,
        "ALLOWED_HOSTS": "images.example.org",
        "DATA_DIR": str(tmp_path),
    })
    assert weak.returncode != 0 and "SECRET_KEY is too weak" in weak.stderr
    wildcard = manage("check", env={
        "DJANGO_SETTINGS_MODULE": "portal.settings.production",
        "SECRET_KEY": "k" * 20 + "-Zq8#p2vL0s9xR!m4tY7wB1nC6eH3jA5uG",
        "ALLOWED_HOSTS": "*",
        "DATA_DIR": str(tmp_path),
    })
    assert wildcard.returncode != 0 and 'ALLOWED_HOSTS="*"' in wildcard.stderr


def test_production_ignores_django_debug(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
             "DJANGO_SETTINGS_MODULE": "portal.settings.production", "DJANGO_DEBUG": "1",
             "SECRET_KEY": "k" * 20 + "-Zq8#p2vL0s9xR!m4tY7wB1nC6eH3jA5uG", "VAULT_JOB_KEY": JOB_KEY, "ALLOWED_HOSTS": "x",
             "DATA_DIR": str(tmp_path)},
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def test_the_suite_runs_on_the_test_settings_with_fast_hashing_and_eager_jobs(settings):
    from portal.celery import app

    assert os.environ["DJANGO_SETTINGS_MODULE"] == "portal.settings.test"
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert (settings.VAULT_ARGON2_TIME_COST, settings.VAULT_ARGON2_MEMORY_KIB) == (1, 8)
    assert app.conf.task_always_eager is True


def test_on_redis_a_running_job_outlasts_the_visibility_timeout_unless_it_is_set(tmp_path):
    # kombu's default (3600 s) is shorter than an effort=max job may run: such a job would be
    # handed to a second worker while the first still runs it.
    show = (
        "from django.conf import settings as s; from vault.jobs.state import hard_limit_for; "
        "print(s.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], hard_limit_for({'effort': 'max'}))"
    )
    base = {"DATA_DIR": str(tmp_path), "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15", "LEARNED_CODEC_ENABLED": "0"}
    default = manage("shell", "-c", show, env=base)
    assert default.returncode == 0, default.stderr
    timeout, longest_job = map(int, default.stdout.split()[-2:])
    assert timeout > longest_job
    chosen = manage("shell", "-c", show, env={**base, "BROKER_VISIBILITY_TIMEOUT": "45"})
    assert chosen.stdout.split()[-2] == "45"
