"""The footer of the app's keys."""

from __future__ import annotations

from textual.widgets import Footer


class AppFooter(Footer):
    """Textual's footer, without the watchers its recomposed keys leave behind.

    The footer recomposes whenever the keys on offer change (a run starts or ends), binding
    each new key to its `compact` reactive; Textual drops the watchers of removed keys only
    when `compact` changes, which it never does here, so keys piled up: about 1 MiB per run
    in a 500-run soak (docs/reliability.md).
    """

    async def recompose(self) -> None:
        await super().recompose()
        for watchers in getattr(self, "__watchers", {}).values():
            watchers[:] = [(node, callback) for node, callback in watchers if not node._closing]
