"""What the images and shares endpoints share: the error answers the schema documents and the
per-user throttle."""
from drf_spectacular.utils import OpenApiResponse
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from vault.api.serializers import ApiErrorSerializer

NOT_FOUND = OpenApiResponse(ApiErrorSerializer, description="No such image among yours.")
ERROR = OpenApiResponse(ApiErrorSerializer, description="Invalid request; `detail` says why.")
LOCKED = OpenApiResponse(ApiErrorSerializer, description="Your vault is not open to this request (see `detail`).")


class PerUserThrottle(UserRateThrottle):
    """A rate per user (per address when anonymous) for one scope of REST_FRAMEWORK's rates."""

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def get_rate(self):
        # Read per request, not frozen at import as DRF's class attribute is: settings may change.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
