"""The load benchmark's accounts: made in the server's database for one run, named after it, and
deleted with their images and blobs at its end (or later, by run id)."""
from __future__ import annotations

import re
import secrets

from django.contrib.auth import get_user_model

from accounts.services import create_api_token
from benchmarks.load.client import Client, exception_name
from vault import services
from vault.keyring import create_vault
from vault.models import ImageRecord

USERNAME_PREFIX = "loadbench"
RUN_ID_RE = re.compile(r"^[a-z0-9]{1,40}$")
TOKEN_NAME = "benchmark_load"


def user_prefix(run_id: str) -> str:
    return f"{USERNAME_PREFIX}-{run_id}-"


def create_benchmark_users(run_id: str, count: int) -> list[tuple[object, str]]:
    """`count` accounts named loadbench-<run_id>-NN, each with a vault and a read-write API token
    that opens it; returns (user, token plaintext) pairs.

    Made through the services rather than the token endpoint: that endpoint is throttled per
    address (THROTTLE_TOKEN_CREATE, 20/h) and counted by django-axes, both on purpose. The
    accounts have no usable login password, so the tokens are their only way in; the vault's
    password wrap is made under a random secret that is thrown away."""
    User = get_user_model()
    made = []
    for n in range(1, count + 1):
        user = User.objects.create_user(username=f"{user_prefix(run_id)}{n:02d}", password=None)
        master_key, _recovery = create_vault(user=user, password=secrets.token_urlsafe(32))
        _token, plaintext = create_api_token(user=user, name=TOKEN_NAME, master_key=master_key)
        made.append((user, plaintext))
    return made


def delete_benchmark_users(run_id: str) -> tuple[int, int]:
    """Delete the run's accounts and every image still theirs, blobs included (through the
    vault's service: deleting the user alone would cascade the rows and orphan the blobs).
    Returns (users, images) deleted."""
    users = list(get_user_model().objects.filter(username__startswith=user_prefix(run_id)))
    images = 0
    for record in ImageRecord.objects.filter(owner__in=users):
        services.delete_image(record=record)
        images += 1
    for user in users:
        user.delete()
    return len(users), images


def delete_through_api(client: Client, jobs, tokens) -> dict[str, int]:
    """DELETE each followed image as its owner would; outcomes by kind. Whatever this misses is
    deleted through the services afterwards."""
    outcomes: dict[str, int] = {}
    for job in jobs:
        url = f"{client.base_url}/api/v1/images/{job.record_id}/"
        try:
            status, _headers, _body = client.call("DELETE", url, token=tokens[job.user])
            key = f"HTTP {status}"
        except Exception as exc:  # noqa: BLE001 - reported; the service pass deletes it anyway
            key = exception_name(exc)
        outcomes[key] = outcomes.get(key, 0) + 1
    return outcomes
