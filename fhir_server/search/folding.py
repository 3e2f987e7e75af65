"""Text folding shared by string search and word search: case and accents do not matter."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lowercase without accents, so that ``helene`` finds "Hélène" (NFKD, combining marks dropped)."""
    if text.isascii():  # the same result, without the per-character pass (most stored text)
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
