from .db import Battle, BattleColumns, ConversationRow, NewerDatabase, ResponseRow, RoundRow, SlotSpec, Store, VoteRow  # noqa: F401
