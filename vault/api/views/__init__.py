"""The vault's API views, by resource: images (and the owner's shares of one) and opening a share
with its key. `portal.api_urls` routes to the names exported here."""
from vault.api.views.images import ImageRecordViewSet
from vault.api.views.shares import ShareRetrieveView

__all__ = ["ImageRecordViewSet", "ShareRetrieveView"]
