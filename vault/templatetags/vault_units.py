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


@register.filter
def about(record) -> str:
    """"about " before a size of a record whose figures are sealed and not opened for this page
    (its columns hold Padmé-rounded sizes: vault/figures.py)."""
    return "" if getattr(record, "figures_exact", True) else "about "
