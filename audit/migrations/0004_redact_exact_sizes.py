"""Audit events written before the figures were sealed (vault/figures.py) quote exact byte counts
of users' uploads and compressed files ("1234567 bytes, ...", "webp 1234567->234567 bytes"): the
same fingerprint the sealed figures close. This rewrites those counts as the Padmé-rounded
approximations the events carry now. The audit log is otherwise append-only (audit/models.py);
this one-time redaction goes through the base manager on purpose, keeps every event, its time,
actor, action and record, and changes only the numbers."""
import re

from django.db import migrations

from compression.imageio import human_bytes
from vault.crypto import padme

ACTIONS = ("upload", "job_done", "delete")
_PAIR = re.compile(r"\b(\d+)->(\d+) bytes\b")
_ONE = re.compile(r"\b(\d+) bytes\b")


def _about(count: str) -> str:
    return f"about {human_bytes(padme(int(count)))}"


def redact(detail: str) -> str:
    detail = _PAIR.sub(lambda m: f"{_about(m[1])} -> {_about(m[2])}", detail)
    return _ONE.sub(lambda m: _about(m[1]), detail)


def redact_events(apps, schema_editor):
    events = apps.get_model("audit", "AuditEvent")._base_manager
    for pk, detail in events.filter(action__in=ACTIONS, detail__contains=" bytes").values_list("pk", "detail").iterator():
        redacted = redact(detail)
        if redacted != detail:
            events.filter(pk=pk).update(detail=redacted)


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_more_security_actions")]

    operations = [migrations.RunPython(redact_events, migrations.RunPython.noop)]
