"""One spelling of item types: the wire values (``video``, ``imageGroup``, ``plainText``...),
with the other names people type accepted as aliases (``videos``, ``image_groups``,
``text``, ``dicom``: the spec's keys and the plurals).

>>> item_type("image_groups")
<ItemType.IMAGE_GROUP: 'imageGroup'>
>>> plural_name(ItemType.VIDEO, 2)
'2 videos'
"""

from __future__ import annotations

from accessio.spec.issues import did_you_mean
from accessio.spec.model import ItemType

_PLURALS = {
    ItemType.VIDEO: "videos",
    ItemType.IMAGE: "images",
    ItemType.IMAGE_GROUP: "imageGroups",
    ItemType.IMAGE_SEQUENCE: "imageSequences",
    ItemType.DICOM_SERIES: "dicomSeries",
    ItemType.DICOM_FILE: "dicomFiles",
    ItemType.AUDIO: "audio",
    ItemType.PLAIN_TEXT: "plainTexts",
    ItemType.PDF: "pdfs",
    ItemType.NIFTI: "niftis",
}

# Names that are not a wire value or its plural, folded like the lookup folds what is typed.
_OTHER_NAMES = {
    "text": ItemType.PLAIN_TEXT,
    "texts": ItemType.PLAIN_TEXT,
    "dicom": ItemType.DICOM_SERIES,
    "series": ItemType.DICOM_SERIES,
    "group": ItemType.IMAGE_GROUP,
    "groups": ItemType.IMAGE_GROUP,
    "sequence": ItemType.IMAGE_SEQUENCE,
    "sequences": ItemType.IMAGE_SEQUENCE,
}


def _fold(name: str) -> str:
    return name.strip().lower().replace("_", "").replace("-", "")


_ALIASES = {
    **{_fold(t.value): t for t in ItemType},
    **{_fold(plural): t for t, plural in _PLURALS.items()},
    **_OTHER_NAMES,
}

NAMES = ", ".join(t.value for t in ItemType)


def item_type(name: str) -> ItemType:
    """The item type a name means (wire value, plural, spec key, any case); ``ValueError``
    naming the types, with a "did you mean", for any other name."""
    found = _ALIASES.get(_fold(name))
    if found is None:
        hint = did_you_mean(name, [t.value for t in ItemType])
        raise ValueError(f"{name!r} is not an item type{hint}: use one of {NAMES}")
    return found


def plural_name(kind: ItemType | str, count: int) -> str:
    """``1 video``, ``3 videos``, ``2 dicomSeries``: a count of items of a type."""
    kind = ItemType(kind)
    return f"{count:,} {kind.value if count == 1 else _PLURALS[kind]}"
