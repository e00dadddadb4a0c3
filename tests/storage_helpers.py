"""Fixtures of the storage-mode tests (tests/test_vault_originals.py, tests/test_vault_saver.py)."""
import pytest

from .vault_helpers import vault_user

PASSWORD = "a-Long-enough-passw0rd"


@pytest.fixture(autouse=True)
def recompress_originals(settings):
    settings.VAULT_RECOMPRESS_ORIGINALS = True  # the default outside the suite (portal/settings/test.py)


@pytest.fixture
def alice():
    return vault_user("alice", PASSWORD)
