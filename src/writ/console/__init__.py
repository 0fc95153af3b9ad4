"""``writ console``: a local web console over the decision log, the chain archive and a witness."""

from __future__ import annotations

from writ.console._archive import ArchivedToken, ChainArchive, token_view

__all__ = ["ArchivedToken", "ChainArchive", "token_view"]
