"""What the images and shares endpoints share: the error answers the schema documents and the
per-user throttle."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from vault.api.serializers import ApiErrorSerializer

NOT_FOUND = OpenApiResponse(ApiErrorSerializer, description="No such image among yours.")
ERROR = OpenApiResponse(ApiErrorSerializer, description="Invalid request; `detail` says why.")
LOCKED = OpenApiResponse(ApiErrorSerializer, description="Your vault is not open to this request (see `detail`).")
GONE = OpenApiResponse(ApiErrorSerializer, description="The stored file is damaged or missing; the image's other versions may still open.")
UNDECODABLE = OpenApiResponse(ApiErrorSerializer, description="The stored original opened but does not decode; download it as it is.")
STORAGE_FULL = OpenApiResponse(ApiErrorSerializer, description="The server's storage is full: nothing was kept; try again later.")
INVALID_PAGE = OpenApiResponse(ApiErrorSerializer, description="No such page (past the last, or not a page number).")

# What an image download can be: an original in any format uploads accept (compression/imageio.py
# ALLOWED_FORMATS), a codec's output (JPEG XL, the learned codec's own container), or
# application/octet-stream for a type nothing recognised. tests/test_api_schema.py checks the list
# against the formats and the registered codecs.
IMAGE_MEDIA_TYPES = (
    "image/jpeg", "image/png", "image/webp", "image/avif", "image/heif", "image/heic", "image/gif", "image/bmp",
    "image/tiff", "image/jxl", "application/x-mscae", "application/octet-stream",
)


def image_bytes(description: str, media_types=IMAGE_MEDIA_TYPES) -> dict:
    """The 200 answers of a download: the bytes under each media type it may carry."""
    return {(200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description=description) for media_type in media_types}


class PerUserThrottle(UserRateThrottle):
    """A rate per user (per address when anonymous) for one scope of REST_FRAMEWORK's rates."""

    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def get_rate(self):
        # Read per request, not frozen at import as DRF's class attribute is: settings may change.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
