"""Figures and thumbnails of the report, drawn into memory and embedded as PNG ``data:`` URIs."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from relabel.report.markup import Html, esc
from relabel.report.thumbnails import make_thumbnail


class Assets:
    """Draws figures and thumbnails into memory and returns them as PNG ``data:`` URIs.

    Parameters
    ----------
    paths : sequence of str
        The image file of each sample (thumbnails are made from them, once each).
    """

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = paths
        self._thumbs: dict[int, str | None] = {}

    @staticmethod
    def buffer() -> io.BytesIO:
        """A buffer for one figure (see :mod:`relabel.report.figures`).

        Returns
        -------
        io.BytesIO
            An empty buffer.
        """
        return io.BytesIO()

    @staticmethod
    def src(png: io.BytesIO) -> str:
        """The ``data:`` URI of a PNG in a buffer.

        Parameters
        ----------
        png : io.BytesIO
            A PNG image.

        Returns
        -------
        str
            ``data:image/png;base64,...``.
        """
        return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")

    def img(self, png: io.BytesIO, alt: str, cls: str = "fig") -> Html:
        """An ``<img>`` element showing a figure.

        Parameters
        ----------
        png : io.BytesIO
            The figure, as PNG.
        alt : str
            Its alternative text (escaped).
        cls : str
            CSS class of the element.

        Returns
        -------
        Html
            The element, with the PNG embedded.
        """
        return Html(f'<img class="{cls}" src="{self.src(png)}" alt="{esc(alt)}">')

    def thumb(self, i: int) -> str | None:
        """The thumbnail of a sample, made once and then reused.

        Parameters
        ----------
        i : int
            The sample's index.

        Returns
        -------
        str or None
            The thumbnail's ``data:`` URI, or ``None`` when the image cannot be read.
        """
        if i not in self._thumbs:
            png = self.buffer()
            self._thumbs[i] = self.src(png) if make_thumbnail(self.paths[i], png) else None
        return self._thumbs[i]
