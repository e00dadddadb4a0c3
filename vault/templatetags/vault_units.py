"""`filesize`: sizes as compression.imageio.human_bytes writes them (binary units, KiB/MiB),
instead of Django's filesizeformat, which computes in binary units and labels them "MB"."""
from django import template

from compression.imageio import human_bytes

register = template.Library()


@register.filter
def filesize(value) -> str:
    try:
        return human_bytes(int(value))
    except (TypeError, ValueError):
        return "–"
