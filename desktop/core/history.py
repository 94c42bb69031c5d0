"""The saved comparisons as the window's History lists them: search, the categories used so
far, rename and delete. Qt-free, so widgets never call the store themselves and the rules
(a title is never blank; the comparison still answering is not deleted) are tested headless.
"""
from __future__ import annotations

from typing import NamedTuple

from .store import ConversationRow, Store


class StillAnswering(ValueError):
    """A comparison still answering cannot be deleted; the message says what to do."""


class DeleteQuestion(NamedTuple):
    """What to ask before deleting a comparison (the user confirms this text). A named tuple, not a
    frozen dataclass: Python compiles a dataclass's generated methods when the module is imported,
    on the way to the window's first frame."""

    title: str
    text: str


class ConversationHistory:
    def __init__(self, store: Store):
        self.store = store

    def listed(self, search: str = "") -> list[ConversationRow]:
        """Latest activity first; `search` filters by title and prompt text."""
        return self.store.conversations(search)

    def categories(self) -> list[str]:
        """The categories (tags) given to prompts so far, offered for the next one."""
        return self.store.tags()

    def title(self, conversation_id: int) -> str:
        return self.store.conversation(conversation_id).title

    def rename(self, conversation_id: int, title: str) -> bool:
        """Rename it; a blank title leaves it as it was (returns whether it changed)."""
        title = title.strip()
        if not title:
            return False
        self.store.rename_conversation(conversation_id, title)
        return True

    def delete_question(self, conversation_id: int, *, answering: bool) -> DeleteQuestion:
        """The confirmation to show; StillAnswering while that comparison is answering."""
        if answering:
            raise StillAnswering("This comparison is still answering: stop it (Esc) before deleting it.")
        conv = self.store.conversation(conversation_id)
        return DeleteQuestion("Delete comparison",
                              f"Delete “{conv.title or 'untitled'}” with its {len(conv.rounds)} round(s) and votes?\n"
                              "Its votes leave the leaderboard. This cannot be undone.")

    def delete(self, conversation_id: int) -> None:
        self.store.delete_conversation(conversation_id)
