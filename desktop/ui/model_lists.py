"""What the pickers offer, kept current in the background: the installed models (listed on a
worker once the window shows, again when the library changes) and each connection's model list
(fetched at start and after Settings change; kept in the settings for the next start, offline
too). The lists themselves are the core's (Contestants, services.installed); this runs the work
off the GUI thread through the window's Inbox and says when a list changed."""
from __future__ import annotations

from typing import Callable

from ..core import connections as cx
from ..core.contestants import Contestants
from ..core.services import Services
from .inbox import Inbox


class ModelLists:
    def __init__(self, services: Services, contestants: Contestants, inbox: Inbox, *,
                 on_changed: Callable[[], None], on_fetched: Callable[[], None],
                 on_message: Callable[[str], None]):
        """on_changed: a list changed (show it); on_fetched: a fetch of the connections' lists
        ended, changed or not; on_message: a problem to show in the status bar."""
        self.services = services
        self.contestants = contestants
        self._inbox = inbox
        self._on_changed, self._on_fetched, self._on_message = on_changed, on_fetched, on_message

    # -- installed models -----------------------------------------------------------------
    def list_installed_in_background(self) -> None:
        self._inbox.run("installed", self.services.installed.read, lambda _models, error: self._on_listed(error))

    def _on_listed(self, error) -> None:
        if error is not None:
            self.contestants.mark_unreadable()  # the built-in model still answers
            self._on_message(f"Your models could not be listed: {error}")
        self._on_changed()

    def relist_installed(self) -> None:
        """The library changed (a download, an import, found models taken or not): list it now."""
        self.contestants.refresh_local()
        self._on_changed()

    # -- each connection's models ---------------------------------------------------------
    def fetch_api_models(self) -> None:
        conns = list(self.services.settings.connections)
        # Every connection at once; one that is offline or refuses keeps the list it had.
        self._inbox.run("api-models", lambda: cx.check_all(self.services, conns, timeout=10),
                        lambda verdicts, error: self._on_api_models(conns, verdicts if error is None else []))

    def _on_api_models(self, conns, verdicts) -> None:
        fetched = {c.id: v.models for c, v in zip(conns, verdicts) if v.ok and v.models}
        if fetched:
            for conn_id, names in fetched.items():
                self.contestants.set_api_models(names, conn_id)
            for conn in self.services.settings.connections:
                if conn.id in fetched:
                    conn.models = list(fetched[conn.id])
            self.services.save_settings(reset_engines=False)  # kept for the next start, offline too
            self._on_changed()
        self._on_fetched()

    def set_api_models(self, names: list[str] | None, connection: str) -> None:
        """A connection's models (None: unknown again; every connection offers what it last listed)."""
        self.contestants.set_api_models(names, connection)
        self._on_changed()
