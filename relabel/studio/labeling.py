"""The Label Studio labeling config relabel uses: pure string code, no SDK.

A review task shows the image, a header with the current label and the model's
suggestion, and one choice per class plus two special answers:

- :data:`NOT_SURE`: the reviewer cannot tell; the task stays open for someone else;
- :data:`NOT_VALID`: the image is broken or belongs to none of the classes.

Label Studio allows only ONE named object tag in a config that is used with file upload
and storage sync (a second named tag breaks both), so the header is an unnamed
``<Header>`` whose text refers to task data (``$given_label`` ...); Label Studio
substitutes every ``$name`` in it.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from xml.sax.saxutils import quoteattr

from relabel.errors import StudioConfigMismatchError

#: The answer "I cannot tell": the task stays open for another reviewer.
NOT_SURE = "Not sure"
#: The answer "the image is broken or shows none of the classes".
NOT_VALID = "Not a valid image / none of these"
#: The two answers that are not classes, in the order they are shown.
SPECIAL_CHOICES: tuple[str, str] = (NOT_SURE, NOT_VALID)

#: Name of the ``<Image>`` object tag; task data carries the image URL under this key.
IMAGE_NAME = "image"
#: Name of the ``<Choices>`` control tag (``from_name`` of every answer).
CHOICES_NAME = "label"
#: Task data keys the header text refers to; every task must carry them.
HEADER_FIELDS: tuple[str, ...] = ("given_label", "predicted_label", "predicted_confidence")

HEADER_TEXT = (
    "Current label: $given_label \u2014 model suggests: $predicted_label ($predicted_confidence)"
)

# Hotkeys: digits first, then letters that Label Studio's own shortcuts leave alone.
# "n" and "x" are kept for the two special answers.
_CLASS_HOTKEYS = list("1234567890") + [c for c in "qwertyiopasdfgjklcvbm"]
_SPECIAL_HOTKEYS = {NOT_SURE: "n", NOT_VALID: "x"}


def _check_classes(classes: Sequence[str]) -> list[str]:
    names = [str(c) for c in classes]
    if not names:
        raise ValueError("a labeling config needs at least one class")
    bad = [c for c in names if not c.strip() or c != c.strip()]
    if bad:
        raise ValueError(f"class names must be non-empty without outer spaces: {bad!r}")
    for c in names:
        if any(unicodedata.category(ch) == "Cc" for ch in c):
            raise ValueError(f"class name {c!r} has control characters")
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise ValueError(f"duplicate class names: {dupes}")
    clash = [c for c in names if c in SPECIAL_CHOICES]
    if clash:
        raise ValueError(f"class names {clash} clash with relabel's special answers")
    return names


def build_label_config(classes: Sequence[str]) -> str:
    """Return the Label Studio labeling config (XML) for these classes.

    Parameters
    ----------
    classes : sequence of str
        The class names, in the order they are shown. Names are XML-escaped; they must be
        unique, non-empty and differ from :data:`NOT_SURE` and :data:`NOT_VALID`.

    Returns
    -------
    str
        The XML config: a header (current label and model suggestion), the image, and one
        required single choice per class plus the two special answers. The first ten
        classes get the hotkeys ``1``-``9``, ``0``; ``n`` is "Not sure", ``x`` "Not valid".

    Raises
    ------
    ValueError
        Empty, duplicate or clashing class names.
    """
    names = _check_classes(classes)
    lines = [
        "<View>",
        f'  <Header value={quoteattr(HEADER_TEXT)} size="5"/>',
        f'  <Image name="{IMAGE_NAME}" value="${IMAGE_NAME}" zoom="true" zoomControl="true"'
        ' maxWidth="100%"/>',
        f'  <Choices name="{CHOICES_NAME}" toName="{IMAGE_NAME}" choice="single-radio"'
        ' required="true" showInline="true">',
    ]
    for i, name in enumerate(names):
        hotkey = f" hotkey={quoteattr(_CLASS_HOTKEYS[i])}" if i < len(_CLASS_HOTKEYS) else ""
        lines.append(f"    <Choice value={quoteattr(name)}{hotkey}/>")
    for name in SPECIAL_CHOICES:
        lines.append(
            f"    <Choice value={quoteattr(name)} hotkey={quoteattr(_SPECIAL_HOTKEYS[name])}/>"
        )
    lines += ["  </Choices>", "</View>"]
    return "\n".join(lines) + "\n"


def parse_classes(label_config: str) -> list[str]:
    """Read the class list back from a labeling config.

    Parameters
    ----------
    label_config : str
        A config as returned by :func:`build_label_config` (possibly edited in Label
        Studio).

    Returns
    -------
    list of str
        The choices of the ``<Choices name="label">`` tag (the first ``<Choices>`` tag if
        none has that name) in document order, without the two special answers.

    Raises
    ------
    StudioConfigMismatchError
        The config is not XML or has no ``<Choices>`` tag.
    """
    try:
        root = ET.fromstring(label_config)
    except ET.ParseError as exc:
        raise StudioConfigMismatchError(f"the labeling config is not valid XML: {exc}") from exc
    tags = list(root.iter("Choices"))
    if not tags:
        raise StudioConfigMismatchError("the labeling config has no <Choices> tag")
    named = [t for t in tags if t.get("name") == CHOICES_NAME]
    tag = named[0] if named else tags[0]
    values = [c.get("value") or c.get("alias") or "" for c in tag.iter("Choice")]
    return [v for v in values if v not in SPECIAL_CHOICES]


def build_issue_label_config(header: str, choices: Sequence[str]) -> str:
    """Return the labeling config (XML) of an issue review: a header, ONE image, choices.

    Parameters
    ----------
    header : str
        The header text; ``$name`` refers to task data (Label Studio substitutes it).
    choices : sequence of str
        The answers, in the order they are shown (:func:`relabel.review.issues.issue_choices`);
        the first ten get the hotkeys ``1``-``9``, ``0``.

    Returns
    -------
    str
        The XML config. Its one named object tag is the ``<Image name="image">``, as in
        :func:`build_label_config` (a duplicate set is shown as one image of its members
        side by side), and its ``<Choices name="label">`` reads back with
        :func:`parse_classes`. The member list is an unnamed ``<Header>``.

    Raises
    ------
    ValueError
        No choices, or duplicate ones.
    """
    names = [str(c) for c in choices]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"an issue config needs distinct choices, got {names!r}")
    lines = [
        "<View>",
        f'  <Header value={quoteattr(header)} size="5"/>',
        f'  <Image name="{IMAGE_NAME}" value="${IMAGE_NAME}" zoom="true" zoomControl="true"'
        ' maxWidth="100%"/>',
        '  <Header value="$members_text" size="6"/>',
        f'  <Choices name="{CHOICES_NAME}" toName="{IMAGE_NAME}" choice="single-radio"'
        ' required="true">',
    ]
    for i, name in enumerate(names):
        hotkey = f" hotkey={quoteattr(_CLASS_HOTKEYS[i])}" if i < 10 else ""
        lines.append(f"    <Choice value={quoteattr(name)}{hotkey}/>")
    lines += ["  </Choices>", "</View>"]
    return "\n".join(lines) + "\n"
