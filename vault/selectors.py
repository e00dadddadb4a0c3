"""Reads for the vault, and the gallery's orderings. Every lookup is scoped to the requesting
user: another user's record is indistinguishable from one that does not exist (404), so ids reveal
nothing."""
from django.db.models import Case, F, FloatField, Value, When
from django.db.models.functions import Cast
from django.http import Http404

from vault.models import ImageRecord, Share

# Gallery orderings: the query parameter and the fields it sorts by (ties broken by newest).
GALLERY_SORTS = {
    "newest": ("Newest first", ("-created", "-id")),
    "oldest": ("Oldest first", ("created", "id")),
    # original_size is Padmé-rounded once a record's figures are sealed (vault/figures.py): images
    # within a few percent of each other may sort as equals (then newest first).
    "largest": ("Largest original", ("-original_size", "-id")),
    "smallest": ("Smallest original", ("original_size", "-id")),
    "saving": ("Least stored for its upload", ("stored_ratio", "-id")),
    "taken": ("Date taken, newest first", ("-taken_at", "-created", "-id")),
    "taken-oldest": ("Date taken, oldest first", ("taken_at", "created", "id")),
}
# Orderings on these fields put the images without a value (no date in the file, or not read
# yet) last, whichever the direction, on every database.
_NULLS_LAST = {"taken_at"}


def owned_images(user):
    """Every image of the user's, those in the trash too."""
    if user is None or not user.is_authenticated:
        return ImageRecord.objects.none()
    return ImageRecord.objects.filter(owner=user).order_by("-created", "-id")


def images_for(user):
    """The user's images out of the trash: what the gallery and the API's list show."""
    return owned_images(user).filter(trashed_at__isnull=True)


def trash_for(user):
    """The user's trash, the soonest to be deleted for good first."""
    return owned_images(user).filter(trashed_at__isnull=False).order_by("trashed_at", "id")


def get_image_for(user, pk) -> ImageRecord:
    """One of the user's images by id, in the trash or not (its page says which)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such image.") from None
    record = owned_images(user).filter(pk=pk).first()
    if record is None:
        raise Http404("No such image.")
    return record


def sorted_images(user, sort: str):
    _, ordering = GALLERY_SORTS.get(sort, GALLERY_SORTS["newest"])
    queryset = images_for(user)
    if "stored_ratio" in ordering:
        # Smallest stored/uploaded ratio first: the images that take least room for what was
        # uploaded (every stored file counted). Images not compressed yet have no ratio; they go
        # last on every database (SQLite would put NULL first, PostgreSQL last).
        queryset = queryset.annotate(
            stored_ratio=Case(
                When(compressed_size__isnull=True, then=Value(None)),
                default=Cast(F("stored_bytes"), FloatField()) / Cast(F("original_size"), FloatField()),
                output_field=FloatField(),
            )
        )
        ordering = [F("stored_ratio").asc(nulls_last=True) if o == "stored_ratio" else o for o in ordering]
    return queryset.order_by(*(_nulls_last(o) for o in ordering))


def _nulls_last(ordering):
    if isinstance(ordering, str) and ordering.lstrip("-") in _NULLS_LAST:
        field = F(ordering.lstrip("-"))
        return field.desc(nulls_last=True) if ordering.startswith("-") else field.asc(nulls_last=True)
    return ordering


def shares_for(user, record=None):
    """The user's live and expired shares (revoked ones no longer exist), newest first."""
    if user is None or not user.is_authenticated:
        return Share.objects.none()
    queryset = Share.objects.filter(record__owner=user).select_related("record")
    return queryset.filter(record=record) if record is not None else queryset


def get_public_share_for(user, record, public_id: str) -> Share:
    """A share of `user`'s record by the id the API shows (its public id, as in its link)."""
    share = shares_for(user, record).filter(public_id=str(public_id)).first()
    if share is None:
        raise Http404("No such share.")
    return share


def get_share_for(user, record, share_id) -> Share:
    try:
        share_id = int(share_id)
    except (TypeError, ValueError):
        raise Http404("No such share.") from None
    share = shares_for(user, record).filter(pk=share_id).first()
    if share is None:
        raise Http404("No such share.")
    return share
