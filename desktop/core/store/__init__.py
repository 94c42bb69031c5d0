from .db import Battle, ConversationRow, NewerDatabase, ResponseRow, RoundRow, SlotSpec, Store, VoteRow  # noqa: F401
