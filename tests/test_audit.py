"""The append-only audit log: recording, immutability, the admin and CSV export."""
import csv
import io
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import create_api_token
from audit.events import record_event
from audit.models import AuditEvent, AuditLogIsAppendOnly
from .vault_helpers import verify_second_factor

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def alice():
    return User.objects.create_user("alice", "alice@example.com", "pw-alice-123456")


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-root-123456")
    client.force_login(admin)
    verify_second_factor(client, admin)  # the admin asks staff for their second factor
    client.admin = admin
    return client


def request_from(user, ip="203.0.113.9"):
    request = RequestFactory().post("/somewhere/", REMOTE_ADDR=ip)
    request.user = user
    return request


def parse_csv(response):
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))


# --- record_event -------------------------------------------------------------------------------


def test_record_event_takes_actor_and_ip_from_the_request_and_the_record_by_value(alice):
    record = SimpleNamespace(pk=41, name="holiday.jpg")
    event = record_event(
        action=AuditEvent.Action.RETRIEVE_OK, request=request_from(alice), record=record, detail="variant=original"
    )
    event.refresh_from_db()
    assert event.actor == alice
    assert event.actor_username == "alice"
    assert event.action == "retrieve_ok"
    assert (event.record_id, event.record_name) == (41, "holiday.jpg")
    assert event.ip == "203.0.113.9"
    assert event.detail == "variant=original"
    assert event.created is not None


def test_record_event_accepts_the_action_as_a_plain_string():
    event = record_event(action="delete", record=SimpleNamespace(pk=7, name="x.png"))
    assert event.action == AuditEvent.Action.DELETE
    assert event.actor is None and event.actor_username == "" and event.ip is None


def test_record_event_prefers_an_explicit_user_over_the_request(alice):
    other = User.objects.create_user("bob")
    event = record_event(action=AuditEvent.Action.UPLOAD, request=request_from(alice), user=other)
    assert event.actor == other
    assert event.ip == "203.0.113.9"


def test_record_event_ignores_an_anonymous_request_user():
    from django.contrib.auth.models import AnonymousUser

    event = record_event(action=AuditEvent.Action.RETRIEVE_REFUSED, request=request_from(AnonymousUser()))
    assert event.actor is None and event.actor_username == ""


def test_record_event_refuses_an_unknown_action():
    with pytest.raises(ValueError):
        record_event(action="reformat_disk")
    assert not AuditEvent.objects.exists()


def test_record_event_truncates_long_detail_and_name_instead_of_failing(alice):
    record = SimpleNamespace(pk=1, name="n" * 1000)
    event = record_event(action=AuditEvent.Action.UPLOAD, user=alice, record=record, detail="d" * 2000)
    assert len(event.detail) == 500
    assert len(event.record_name) == 255


def test_record_event_stores_no_ip_for_a_malformed_remote_addr(alice):
    event = record_event(action=AuditEvent.Action.UPLOAD, request=request_from(alice, ip="not-an-ip"))
    assert event.ip is None


def test_events_survive_the_deletion_of_their_actor_and_record(alice):
    event = record_event(action=AuditEvent.Action.DELETE, user=alice, record=SimpleNamespace(pk=99, name="gone.png"))
    alice.delete()
    event.refresh_from_db()
    assert event.actor is None
    assert event.actor_username == "alice"
    assert (event.record_id, event.record_name) == (99, "gone.png")


# --- append-only ------------------------------------------------------------------------------


def test_an_event_cannot_be_changed(alice):
    event = record_event(action=AuditEvent.Action.UPLOAD, user=alice, detail="original")
    event.detail = "rewritten"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(detail="rewritten")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.bulk_update([event], ["detail"])
    assert AuditEvent.objects.get(pk=event.pk).detail == "original"


def test_an_event_cannot_be_deleted(alice):
    event = record_event(action=AuditEvent.Action.UPLOAD, user=alice)
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- admin ------------------------------------------------------------------------------------


def test_admin_lists_and_searches_events(admin_client, alice):
    record_event(action=AuditEvent.Action.UPLOAD, user=alice, record=SimpleNamespace(pk=5, name="cat.png"))
    record_event(action=AuditEvent.Action.UPLOAD, user=alice, record=SimpleNamespace(pk=6, name="dog.png"))
    url = reverse("admin:audit_auditevent_changelist")
    html = admin_client.get(url).content.decode()
    assert "cat.png" in html and "dog.png" in html
    searched = admin_client.get(url, {"q": "cat"}).content.decode()
    assert "cat.png" in searched and "dog.png" not in searched
    filtered = admin_client.get(url, {"action__exact": "lockout"}).content.decode()
    assert "cat.png" not in filtered


def test_admin_cannot_add_change_or_delete_events(admin_client, alice):
    event = record_event(action=AuditEvent.Action.UPLOAD, user=alice, detail="keep me")
    assert admin_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert admin_client.get(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403
    change_url = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert admin_client.get(change_url).status_code == 200  # read-only view
    assert admin_client.post(change_url, {"detail": "changed"}).status_code == 403
    changelist = admin_client.get(reverse("admin:audit_auditevent_changelist"))
    actions = dict(changelist.context["action_form"].fields["action"].choices)
    assert "delete_selected" not in actions
    assert "export_selected_csv" in actions
    assert AuditEvent.objects.get(pk=event.pk).detail == "keep me"


def test_admin_action_exports_the_selected_events_as_csv(admin_client, alice):
    chosen = record_event(
        action=AuditEvent.Action.RETRIEVE_REFUSED,
        request=request_from(alice),
        record=SimpleNamespace(pk=12, name="secret.png"),
        detail="wrong key",
    )
    record_event(action=AuditEvent.Action.UPLOAD, user=alice, record=SimpleNamespace(pk=13, name="other.png"))
    response = admin_client.post(
        reverse("admin:audit_auditevent_changelist"),
        {"action": "export_selected_csv", "_selected_action": [chosen.pk]},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = parse_csv(response)
    assert rows[0] == ["created", "actor_username", "action", "record_id", "record_name", "ip", "detail"]
    assert rows[1][1:] == ["alice", "retrieve_refused", "12", "secret.png", "203.0.113.9", "wrong key"]
    assert rows[1][0] == chosen.created.isoformat()
    assert len(rows) == 2


def test_changelist_export_follows_the_current_filter(admin_client, alice):
    for name in ("a.png", "b.png"):
        record_event(action=AuditEvent.Action.UPLOAD, user=alice, record=SimpleNamespace(pk=1, name=name))
    record_event(action=AuditEvent.Action.LOCKOUT, detail='Username "mallory" locked out')
    changelist = admin_client.get(reverse("admin:audit_auditevent_changelist"), {"action__exact": "upload"})
    export_url = changelist.context["export_url"]
    assert "action__exact=upload" in export_url
    assert export_url in changelist.content.decode().replace("&amp;", "&")

    rows = parse_csv(admin_client.get(export_url))
    assert sorted(row[4] for row in rows[1:]) == ["a.png", "b.png"]
    everything = parse_csv(admin_client.get(reverse("admin:audit_auditevent_export")))
    assert len(everything) == 1 + AuditEvent.objects.count()  # includes the admin's own LOGIN event


def test_csv_export_neutralises_spreadsheet_formulas_from_user_input(admin_client, alice):
    record_event(action=AuditEvent.Action.UPLOAD, user=alice, record=SimpleNamespace(pk=3, name="=HYPERLINK(1)"))
    rows = parse_csv(admin_client.get(reverse("admin:audit_auditevent_export")))
    assert rows[1][4] == "'=HYPERLINK(1)"


def test_csv_export_needs_a_staff_login(client, alice):
    client.force_login(alice)  # not staff
    response = client.get(reverse("admin:audit_auditevent_export"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_token_admin_never_shows_the_digest_and_audits_revocations(admin_client, alice):
    token, plaintext = create_api_token(user=alice, name="alice-ci")
    changelist = admin_client.get(reverse("admin:accounts_apitoken_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:accounts_apitoken_change", args=[token.pk])).content.decode()
    for html in (changelist, detail):
        assert "alice-ci" in html
        assert token.digest not in html
        assert plaintext not in html
    assert admin_client.get(reverse("admin:accounts_apitoken_add")).status_code == 403

    response = admin_client.post(reverse("admin:accounts_apitoken_delete", args=[token.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not ApiToken.objects.exists()
    revoked = AuditEvent.objects.get(action=AuditEvent.Action.TOKEN_REVOKED)
    assert revoked.actor == admin_client.admin
    assert '"alice"' in revoked.detail


def test_user_admin_is_still_registered(admin_client, alice):
    response = admin_client.get(reverse("admin:auth_user_changelist"))
    assert response.status_code == 200
    assert "alice" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_moving_the_log_out_of_accounts_keeps_its_table_rows_and_permissions():
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate([("audit", None)])  # back to before the move (accounts 0004)
        old_apps = executor.loader.project_state(("accounts", "0004_job_audit_events")).apps
        OldEvent = old_apps.get_model("accounts", "AuditEvent")
        old = OldEvent.objects.create(action="upload", actor_username="alice", record_id=7, detail="before the move")
        permission = Permission.objects.get(content_type__app_label="accounts", codename="view_auditevent")
        auditors = Group.objects.create(name="auditors")
        auditors.permissions.add(permission)

        executor.loader.build_graph()
        # Up to the move (accounts' later migrations add tables of their own).
        move = [node for node in latest if node[0] != "accounts"] + [("accounts", "0005_auditevent_moved_to_audit")]
        plan = executor.migration_plan(move)
        assert {migration.app_label for migration, _ in plan} == {"audit", "accounts"}
        # The plan as SQL is comments only: the schema does not change.
        assert [line for line in executor.loader.collect_sql(plan) if not line.startswith("--")] == []
        executor.migrate(move)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    assert OldEvent._meta.db_table == AuditEvent._meta.db_table
    moved = AuditEvent.objects.get(pk=old.pk)
    assert (moved.created, moved.actor_username, moved.record_id, moved.detail) == (old.created, "alice", 7, "before the move")
    permission.refresh_from_db()
    assert permission.content_type.app_label == "audit"
    assert list(permission.group_set.all()) == [auditors]
    assert list(ContentType.objects.filter(model="auditevent").values_list("app_label", flat=True)) == ["audit"]
