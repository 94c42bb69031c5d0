from .db import ConversationRow, NewerDatabase, Store  # noqa: F401

# The records of rounds and battles: imported at their first use (see records.py), also when
# named from here (`from desktop.core.store import SlotSpec`).
_ELSEWHERE = {"SlotSpec": "records", "ResponseRow": "records", "VoteRow": "records", "RoundRow": "records",
              "Battle": "battles", "BattleColumns": "battles"}


def __getattr__(name: str):
    if name in _ELSEWHERE:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_ELSEWHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
