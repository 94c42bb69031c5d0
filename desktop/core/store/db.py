"""SQLite store: WAL, foreign keys, named migrations, the queries the app needs.

Every write is one transaction, committed before the method returns, with
synchronous=FULL so a vote is on disk when `cast_vote` returns. One connection
is shared behind a lock; every call is short, so the GUI thread may call it.

What can go wrong with the file is said in plain words, never as a bare sqlite3 error:
a damaged file (checked with `PRAGMA quick_check` on every open), a read-only file or
folder, a full disk (`StorageError`, still a sqlite3.OperationalError by kind). Text is
stored whole whatever characters it holds (see core/untrusted.py: a lone surrogate, which
UTF-8 cannot encode, becomes U+FFFD instead of failing the whole save).

Several ArenaDesk processes may share the file. Each open Store is one run (`run_id`),
holding a lock file beside the database from before it stamps its first answer with it
until it closes; a run that ends without finishing them (a crash, a kill, a power cut)
releases its lock with its process, so the next start closes those answers as interrupted
at once, while the answers of a run still alive are left alone.
"""
from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from ..untrusted import storable
from .migrations import MIGRATIONS

if TYPE_CHECKING:  # each imported where used: none is needed to open the window
    import numpy as np
    from filelock import FileLock

    from .battles import Battle, BattleColumns
    from .records import ResponseRow, RoundRow, SlotSpec, VoteRow

OUTCOMES = ("left", "right", "tie", "both_bad", "best")


class NewerDatabase(RuntimeError):
    """The file was written by a newer ArenaDesk; we refuse to touch it."""


class DamagedDatabase(NewerDatabase):
    """The file is not a usable SQLite database. A NewerDatabase by kind, so every caller that
    already explains "cannot open the database, it was not changed" explains this one too."""


class StorageError(sqlite3.OperationalError):
    """A read or write the file refused (disk full, read-only, I/O error), worded for the user."""


INTERRUPTED = "ArenaDesk closed before this answer finished; the text so far is kept."
FULL_DISK_BYTES = 1 << 20  # less free space than this, and an I/O error is most likely the full disk
LEGACY_STREAMING_CUTOFF_S = 3600.0  # rows from before writers were recorded: older ones were cut off


def _disk_full(path: Path) -> bool:
    """SQLite reports a full disk as 'disk I/O error' when the WAL index cannot grow: ask the disk."""
    try:
        return shutil.disk_usage(path.parent).free < FULL_DISK_BYTES
    except OSError:
        return False


def explain(exc: sqlite3.Error, path: Path, doing: str = "save to") -> str:
    """A sqlite3 error as the user can act on it."""
    text = str(exc).lower()
    if "full" in text or ("i/o" in text and _disk_full(path)):
        return (f"Could not {doing} {path}: the disk is full. Free some space, then try again "
                "(nothing else was changed).")
    if "readonly" in text or "read-only" in text or "permission" in text or "unable to open" in text:
        return (f"Could not {doing} {path}: the file or its folder is read-only. Make it writable, or choose "
                "another data folder with --home (or ARENADESK_HOME).")
    if "locked" in text or "busy" in text:
        return f"Could not {doing} {path}: another program holds it locked. Close it and try again."
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return (f"Could not {doing} {path}: the database is damaged ({exc}). Move it aside to start with an "
                "empty one, or restore a copy.")
    return f"Could not {doing} {path}: {exc}. Check the disk, then try again."


def new_uid() -> str:
    import uuid  # with the first record written, not at open (see Store.run_id)

    return uuid.uuid4().hex


@dataclass
class ConversationRow:
    id: int
    title: str
    created_at: float
    blind: bool
    rounds: list[RoundRow] = field(default_factory=list)
    uid: str = ""
    n_rounds: int = 0  # filled by conversations(), for the history list
    n_unrated: int = 0


_RESPONSE_COLS = (
    "id, round_id, slot, position, engine, model, model_ref, params, text, status, error, started_at, "
    "first_token_at, finished_at, tokens_in, tokens_out, tokens_estimated, cost_usd, stars, uid, choice, last_token_at, "
    "finish_reason, reasoning, first_answer_at, connection, reported_model"
)


def _response(row) -> ResponseRow:
    from .records import ResponseRow

    values = list(row)
    values[7] = json.loads(values[7] or "{}")
    values[16] = bool(values[16])
    return ResponseRow(*values)


class Store:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        # As random as a uid, without importing uuid (which imports platform and compiles its
        # patterns) on the way to the window's first frame: a run id is only ever compared.
        self.run_id = os.urandom(16).hex()
        self._run_lock: FileLock | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DamagedDatabase(f"The data folder {self.path.parent} cannot be made ({exc.strerror or exc}). "
                                  "Choose another data folder with --home (or ARENADESK_HOME).") from None
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        except sqlite3.Error as exc:
            raise DamagedDatabase(explain(exc, self.path, "open")) from None
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._check_integrity()
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._migrate()
        except DamagedDatabase:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:  # not a database, read-only, locked, full: say which and what to do
            self._db.close()
            raise DamagedDatabase(self._open_failure(exc)) from None

    def _open_failure(self, exc: sqlite3.DatabaseError) -> str:
        text = str(exc).lower()
        if "locked" in text:
            return f"The database {self.path} is locked by another program; close it and try again."
        if ("readonly" in text or "read-only" in text or "unable to open" in text or "full" in text
                or ("i/o" in text and _disk_full(self.path))):
            return explain(exc, self.path, "open")
        return (f"The database {self.path} could not be opened ({exc}): it is damaged or not an ArenaDesk "
                "database. It was not changed; move it elsewhere to start with an empty one, or restore a copy.")

    def _check_integrity(self) -> None:
        """PRAGMA quick_check: a damaged file is refused before anything is written to it."""
        problems = [r[0] for r in self._db.execute("PRAGMA quick_check(5)").fetchall()]
        if problems and problems != ["ok"]:
            raise DamagedDatabase(
                f"The database {self.path} is damaged (SQLite's integrity check says: {problems[0]}). It was not "
                f"changed. To go on, move it aside (e.g. rename it to {self.path.name}.damaged) and start again "
                "with an empty one, or restore a copy; `sqlite3 FILE .recover` can rescue what is still readable."
            )

    def _runs_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".runs")

    def _writer(self) -> str:
        """This run's id, to stamp an answer with; from the first stamp on, the run holds its lock
        file for as long as the store is open (the OS drops it with the process). Taken here, not at
        open: importing filelock costs about 40 ms, which the window would pay before its first frame."""
        with self._lock:
            if self._run_lock is None:
                self._hold_run_lock()
        return self.run_id

    def _hold_run_lock(self) -> None:
        from filelock import FileLock, Timeout

        try:
            self._runs_dir().mkdir(exist_ok=True)
            lock = FileLock(self._runs_dir() / f"{self.run_id}.lock")
            lock.acquire(timeout=0)
        except (OSError, Timeout) as exc:
            raise sqlite3.OperationalError(f"readonly: cannot create a lock file ({exc})") from None
        self._run_lock = lock

    def _writer_gone(self, writer: str) -> bool:
        """True when the run `writer` has ended: nobody holds its lock file."""
        if not re.fullmatch(r"[0-9a-f]{32}", writer):
            return True
        path = self._runs_dir() / f"{writer}.lock"
        if not path.exists():
            return True
        from filelock import FileLock, Timeout

        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return False  # alive: it holds its lock
        except OSError:
            return False  # cannot tell: leave its answers alone
        lock.release()
        path.unlink(missing_ok=True)
        return True

    # -- plumbing -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction. A disk that refuses it (full, read-only, I/O error) raises
        StorageError with a plain message; nothing of the transaction is kept."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StorageError(explain(exc, self.path)) from exc
            try:
                yield self._db
            except BaseException as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if type(exc) is sqlite3.OperationalError:
                    raise StorageError(explain(exc, self.path)) from exc
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                # A failed COMMIT (disk full, I/O error) leaves the transaction open, and every
                # later BEGIN would fail with "cannot start a transaction within a transaction".
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StorageError(explain(exc, self.path)) from exc
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def query(self, sql: str, args=()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if type(exc) is not sqlite3.OperationalError or "no such" in str(exc) or "syntax" in str(exc):
                    raise  # a bug in the query, not the disk
                raise StorageError(explain(exc, self.path, "read")) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._run_lock is not None:
                # Streaming answers of this run that were not finished are interrupted from now on.
                self._run_lock.release()
                try:
                    Path(self._run_lock.lock_file).unlink(missing_ok=True)
                except OSError:  # another process is looking at it right now; it removes it
                    pass
                self._run_lock = None

    def _migrate(self) -> None:
        with self.transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
            applied = {r[0] for r in db.execute("SELECT name FROM schema_migrations")}
        known = {name for name, _ in MIGRATIONS}
        unknown = sorted(applied - known)
        if unknown:
            raise NewerDatabase(
                f"The database {self.path} was written by a newer version of ArenaDesk "
                f"(it has migration {unknown[-1]}). Update ArenaDesk to open it; the file was not changed."
            )
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            with self.transaction() as db:
                for statement in _statements(sql):
                    db.execute(statement)
                db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, time.time()))

    def migrations(self) -> list[str]:
        return [r[0] for r in self.query("SELECT name FROM schema_migrations ORDER BY name")]

    # -- conversations and rounds ---------------------------------------------------------
    def new_conversation(self, title: str = "", blind: bool = False, *, created_at: float | None = None) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO conversations (uid, title, created_at, blind) VALUES (?, ?, ?, ?)",
                (new_uid(), title, created_at or time.time(), int(blind)),
            )
            return cur.lastrowid

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE conversations SET title = ? WHERE id = ?", (title, conversation_id))

    def delete_conversation(self, conversation_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def add_round(
        self,
        conversation_id: int,
        prompt: str,
        slots: list[SlotSpec],
        *,
        system_prompt: str = "",
        blind: bool = False,
        tag: str | None = None,
        created_at: float | None = None,
    ) -> tuple[int, list[int]]:
        """Record a prompt sent to N panes; returns the round id and one response id per slot (in `slots` order)."""
        if not slots:
            raise ValueError("a round needs at least one pane")
        now = created_at or time.time()
        prompt, system_prompt = storable(prompt), storable(system_prompt)
        with self.transaction() as db:
            (turn,) = db.execute(
                "SELECT COALESCE(MAX(turn) + 1, 0) FROM rounds WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()
            cur = db.execute(
                "INSERT INTO rounds (uid, conversation_id, turn, prompt, system_prompt, tag, blind, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (new_uid(), conversation_id, turn, prompt, system_prompt, tag, int(blind), now),
            )
            round_id = cur.lastrowid
            if turn == 0:
                db.execute(
                    "UPDATE conversations SET title = ? WHERE id = ? AND title = ''",
                    (_title_from(prompt), conversation_id),
                )
            ids = []
            for s in slots:
                cur = db.execute(
                    "INSERT INTO responses (uid, round_id, slot, position, engine, model, model_ref, choice, params, "
                    "started_at, writer, connection) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (new_uid(), round_id, s.slot, s.position, s.engine, storable(s.model), storable(s.model_ref),
                     storable(s.choice),
                     json.dumps(s.params, sort_keys=True), now, self._writer(), s.connection),
                )
                ids.append(cur.lastrowid)
            return round_id, ids

    def set_tag(self, round_id: int, tag: str | None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE rounds SET tag = ? WHERE id = ?", (tag or None, round_id))

    def close_interrupted(self, started_before: float | None = None) -> int:
        """Mark the answers still 'streaming' whose run has ended (a crash, a kill, a power cut) as
        interrupted, keeping their text; returns how many. A run still alive (another window, a CLI
        command) holds its lock, so its answers are left alone. Rows written before runs were
        recorded (no writer) are closed once they began before `started_before` (default: an hour ago)."""
        if started_before is None:
            started_before = time.time() - LEGACY_STREAMING_CUTOFF_S
        writers = [r[0] for r in self.query("SELECT DISTINCT writer FROM responses WHERE status = 'streaming' "
                                            "AND writer IS NOT NULL AND writer != ?", (self.run_id,))]
        gone = [w for w in writers if self._writer_gone(w)]
        # Lock files of runs that crashed with nothing streaming are swept up too; not a fresh one,
        # which a starting run may have created and not yet locked.
        for stale in self._runs_dir().glob("*.lock"):
            try:
                old = time.time() - stale.stat().st_mtime > 60
            except OSError:
                continue
            if old and stale.stem != self.run_id and stale.stem not in writers:
                self._writer_gone(stale.stem)
        closed = 0
        with self.transaction() as db:
            update = ("UPDATE responses SET status = 'error', error = ?, "
                      "finished_at = COALESCE(finished_at, last_token_at, started_at) WHERE status = 'streaming' ")
            for w in gone:
                closed += db.execute(update + "AND writer = ?", (INTERRUPTED, w)).rowcount
            closed += db.execute(update + "AND writer IS NULL AND started_at < ?", (INTERRUPTED, started_before)).rowcount
        return closed

    def save_response(self, response_id: int, result) -> None:
        """Write an engine Result (text, status, timings, usage, cost) to its response row."""
        with self.transaction() as db:
            db.execute(
                "UPDATE responses SET text = ?, status = ?, error = ?, started_at = ?, first_token_at = ?, "
                "last_token_at = ?, finished_at = ?, tokens_in = ?, tokens_out = ?, tokens_estimated = ?, "
                "cost_usd = ?, writer = ?, finish_reason = ?, reasoning = ?, first_answer_at = ?, reported_model = ? "
                "WHERE id = ?",
                (storable(result.text), result.status, storable(result.error or "") or None, result.started_at,
                 result.first_token_at, getattr(result, "last_token_at", None), result.finished_at, result.tokens_in,
                 result.tokens_out, int(bool(result.tokens_estimated)), result.cost_usd, self._writer(),
                 getattr(result, "finish_reason", None), storable(getattr(result, "reasoning", "") or ""),
                 getattr(result, "first_answer_at", None), getattr(result, "reported_model", None), response_id),
            )

    def replace_response(self, response_id: int, spec: SlotSpec) -> None:
        """Regenerate: the response row starts over (a vote on its round no longer holds)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE responses SET engine = ?, model = ?, model_ref = ?, choice = ?, params = ?, text = '', status = 'streaming', "
                "error = NULL, started_at = ?, first_token_at = NULL, last_token_at = NULL, finished_at = NULL, tokens_in = NULL, "
                "tokens_out = NULL, tokens_estimated = 0, cost_usd = NULL, stars = NULL, writer = ?, connection = ?, "
                "reported_model = NULL WHERE id = ?",
                (spec.engine, spec.model, spec.model_ref, spec.choice, json.dumps(spec.params, sort_keys=True), time.time(),
                 self._writer(), spec.connection, response_id),
            )
            db.execute("DELETE FROM votes WHERE round_id = (SELECT round_id FROM responses WHERE id = ?)", (response_id,))

    # -- votes ----------------------------------------------------------------------------
    def cast_vote(
        self,
        round_id: int,
        outcome: str,
        *,
        best_position: int | None = None,
        stars: dict[int, int | None] | None = None,
        note: str = "",
        blind: bool | None = None,
    ) -> int:
        """Save (or change) the vote on a round and the pairwise battles it implies. A vote shows
        a blind round's names: the round is recorded as revealed (rounds.revealed_at).

        outcome is left / right / tie / both_bad for two panes; for more panes use
        'best' with best_position (or tie / both_bad for all of them). stars maps
        response id to 1-5 (None clears). blind=None: a changed vote keeps its blindness (a
        judgement first made without the names); a new one is blind if the round is blind and
        its names had not been shown (after a reveal, Regenerate drops the vote while the names
        stay on screen: the answer is then judged with them).
        """
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
        now, note = time.time(), storable(note)
        with self.transaction() as db:
            row = db.execute("SELECT blind, revealed_at FROM rounds WHERE id = ?", (round_id,)).fetchone()
            if row is None:
                raise KeyError(f"no round {round_id}")
            existing = db.execute("SELECT id, blind FROM votes WHERE round_id = ?", (round_id,)).fetchone()
            if blind is None:
                blind = bool(existing[1]) if existing else bool(row[0]) and row[1] is None
            if row[0] and row[1] is None:
                db.execute("UPDATE rounds SET revealed_at = ? WHERE id = ?", (now, round_id))
            shown = db.execute(
                "SELECT id, position FROM responses WHERE round_id = ? ORDER BY position", (round_id,)
            ).fetchall()
            pairs = _battles_for(outcome, best_position, [r[1] for r in shown])
            by_position = {pos: rid for rid, pos in shown}
            if existing:
                vote_id = existing[0]
                db.execute(
                    "UPDATE votes SET outcome = ?, best_position = ?, note = ?, blind = ?, updated_at = ? WHERE id = ?",
                    (outcome, best_position, note, int(blind), now, vote_id),
                )
                db.execute("DELETE FROM battles WHERE vote_id = ?", (vote_id,))
            else:
                vote_id = db.execute(
                    "INSERT INTO votes (uid, round_id, outcome, best_position, note, blind, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (new_uid(), round_id, outcome, best_position, note, int(blind), now, now),
                ).lastrowid
            db.executemany(
                "INSERT INTO battles (vote_id, response_a, response_b, winner) VALUES (?, ?, ?, ?)",
                [(vote_id, by_position[a], by_position[b], w) for a, b, w in pairs],
            )
            for response_id, value in (stars or {}).items():
                if value is not None and not 1 <= int(value) <= 5:
                    raise ValueError("stars go from 1 to 5")
                db.execute("UPDATE responses SET stars = ? WHERE id = ? AND round_id = ?", (value, response_id, round_id))
            return vote_id

    def set_stars(self, response_id: int, stars: int | None) -> None:
        if stars is not None and not 1 <= stars <= 5:
            raise ValueError("stars go from 1 to 5")
        with self.transaction() as db:
            db.execute("UPDATE responses SET stars = ? WHERE id = ?", (stars, response_id))

    def set_note(self, round_id: int, note: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE votes SET note = ?, updated_at = ? WHERE round_id = ?", (note, time.time(), round_id))

    def clear_vote(self, round_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM votes WHERE round_id = ?", (round_id,))

    # -- reading --------------------------------------------------------------------------
    def conversations(self, search: str = "", limit: int = 500) -> list[ConversationRow]:
        """Latest activity first (a conversation continued today comes before one started
        yesterday); `search` matches titles, prompts and answers."""
        sql = (
            "SELECT id, title, created_at, blind, uid, "
            "(SELECT COUNT(*) FROM rounds r WHERE r.conversation_id = conversations.id), "
            "(SELECT COUNT(*) FROM rounds r LEFT JOIN votes v ON v.round_id = r.id "
            " WHERE r.conversation_id = conversations.id AND v.id IS NULL) FROM conversations"
        )
        args: tuple = ()
        if search:
            like = f"%{search}%"
            sql += (
                " WHERE title LIKE ? OR id IN (SELECT conversation_id FROM rounds WHERE prompt LIKE ?)"
                " OR id IN (SELECT r.conversation_id FROM rounds r JOIN responses p ON p.round_id = r.id"
                " WHERE p.text LIKE ? OR p.model LIKE ?)"
            )
            args = (like, like, like, like)
        sql += (" ORDER BY COALESCE((SELECT MAX(r.created_at) FROM rounds r WHERE r.conversation_id = conversations.id),"
                " created_at) DESC, id DESC LIMIT ?")
        return [ConversationRow(r[0], r[1], r[2], bool(r[3]), uid=r[4], n_rounds=r[5], n_unrated=r[6])
                for r in self.query(sql, args + (limit,))]

    def conversation(self, conversation_id: int) -> ConversationRow:
        rows = self.query("SELECT id, title, created_at, blind, uid FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            raise KeyError(f"no conversation {conversation_id}")
        r = rows[0]
        conv = ConversationRow(r[0], r[1], r[2], bool(r[3]), uid=r[4])
        conv.rounds = self.rounds(conversation_id)
        return conv

    def names_shown(self, conversation_id: int) -> bool:
        """Whether this conversation has shown which model gave which answer: a round sent with
        names, or a blind round whose names were revealed (by its first vote; a regenerate that
        drops the vote does not hide them again)."""
        return bool(self.query(
            "SELECT 1 FROM rounds r WHERE r.conversation_id = ? AND (r.blind = 0 OR r.revealed_at IS NOT NULL) LIMIT 1",
            (conversation_id,)))

    def rounds(self, conversation_id: int) -> list[RoundRow]:
        from .records import RoundRow

        rounds = [
            RoundRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), r[7], uid=r[8], revealed_at=r[9])
            for r in self.query(
                "SELECT id, conversation_id, turn, prompt, system_prompt, tag, blind, created_at, uid, revealed_at "
                "FROM rounds "
                "WHERE conversation_id = ? ORDER BY turn",
                (conversation_id,),
            )
        ]
        for rnd in rounds:
            rnd.responses = self.responses(rnd.id)
            rnd.vote = self.vote(rnd.id)
        return rounds

    def responses(self, round_id: int) -> list[ResponseRow]:
        return [
            _response(r)
            for r in self.query(f"SELECT {_RESPONSE_COLS} FROM responses WHERE round_id = ? ORDER BY position", (round_id,))
        ]

    def response(self, response_id: int) -> ResponseRow:
        rows = self.query(f"SELECT {_RESPONSE_COLS} FROM responses WHERE id = ?", (response_id,))
        if not rows:
            raise KeyError(f"no response {response_id}")
        return _response(rows[0])

    def vote(self, round_id: int) -> VoteRow | None:
        from .records import VoteRow

        rows = self.query(
            "SELECT id, round_id, outcome, best_position, note, blind, created_at, updated_at, uid FROM votes WHERE round_id = ?",
            (round_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return VoteRow(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], uid=r[8])

    def _battle_filters(self, since, until, blind_only, tag) -> tuple[str, list]:
        where, args = "", []
        if since is not None:
            where += " AND v.created_at >= ?"
            args.append(since)
        if until is not None:
            where += " AND v.created_at < ?"
            args.append(until)
        if blind_only:
            where += " AND v.blind = 1"
        if tag:
            where += " AND r.tag = ?"
            args.append(tag)
        return where, args

    def battles(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        blind_only: bool = False,
        tag: str | None = None,
    ) -> list[Battle]:
        """Every pairwise outcome, oldest first, filtered by vote time, blindness and tag.
        (The leaderboard reads `battle_columns`, the same rows as arrays, which is several times faster.)"""
        sql = (
            "SELECT b.id, r.id, pa.model_ref, pb.model_ref, pa.model, pb.model, b.winner, v.blind, "
            "pa.position, pb.position, v.created_at, r.tag, n.panes "
            "FROM battles b JOIN votes v ON v.id = b.vote_id JOIN rounds r ON r.id = v.round_id "
            "JOIN (SELECT round_id, COUNT(*) AS panes FROM responses GROUP BY round_id) n ON n.round_id = r.id "
            "JOIN responses pa ON pa.id = b.response_a JOIN responses pb ON pb.id = b.response_b WHERE 1 = 1"
        )
        where, args = self._battle_filters(since, until, blind_only, tag)
        sql += where + " ORDER BY v.created_at, b.id"
        from .battles import Battle

        return [
            Battle(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], r[10], r[11], r[12])
            for r in self.query(sql, args)
        ]

    def battle_columns(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        blind_only: bool = False,
        tag: str | None = None,
    ) -> "BattleColumns":
        """The rows `battles()` returns, in the same order, as arrays: what the leaderboard reads.

        What makes it fast: Python objects are the cost of reading 100,000 battles, and a model's
        names are the same few strings over and over. So nothing is read per battle as a Python
        object but its vote's time: the battles' integers come back as one comma-joined string per
        column, which numpy parses at C speed. Which model gave an answer, and where it was shown,
        is read once per model from the index on (model_ref, model, position) as lists of answer
        ids, and put onto the battles with arrays; the rounds without exactly two answers are asked
        for once; the sort is numpy's."""
        where, args = self._battle_filters(since, until, blind_only, tag)
        source = ("FROM battles b JOIN votes v ON v.id = b.vote_id"
                  + (" JOIN rounds r ON r.id = v.round_id" if tag else "") + " WHERE 1 = 1" + where)
        code = "(CASE b.winner WHEN 'a' THEN 0 WHEN 'b' THEN 1 WHEN 'tie' THEN 2 ELSE 3 END) + 4 * (v.blind != 0)"
        with self._lock:
            # One snapshot for these reads: a vote cast by another process meanwhile must not
            # leave battles without their answers' models, nor the times out of step.
            began = not self._db.in_transaction
            if began:
                self._db.execute("BEGIN")
            try:
                lists = self.query("SELECT group_concat(b.response_a), group_concat(b.response_b), group_concat(b.id), "
                                   f"group_concat(v.id), group_concat(v.round_id), group_concat({code}) " + source,
                                   args)[0]
                # The times as floats, one row each: through text a float would not come back bit
                # for bit. (As two exact integers each, in the lists above, they cost as much.)
                times = self.query("SELECT v.created_at " + source + " ORDER BY b.id", args)
                answers = self.query("SELECT model_ref, model, group_concat(id), group_concat(position) FROM responses "
                                     "GROUP BY model_ref, model")
                other_panes = self.query("SELECT round_id, COUNT(*) FROM responses GROUP BY round_id "
                                         "HAVING COUNT(*) != 2")
            finally:
                if began:
                    self._db.execute("COMMIT")
        try:
            return _columns_from_lists(lists, times, answers, other_panes)
        except ValueError:  # a value that is not a whole number where one belongs (a hand-edited file)
            from .battles import BattleColumns

            return BattleColumns.from_battles(self.battles(since=since, until=until, blind_only=blind_only, tag=tag))

    def reported_models(self) -> list[tuple[str, str, str, float, float, int]]:
        """For each API contestant, each model name its server reported: (model_ref, label,
        reported_model, first seen, last seen, answers), oldest first; what shows a snapshot change."""
        return self.query(
            "SELECT model_ref, (SELECT p2.model FROM responses p2 WHERE p2.model_ref = p.model_ref "
            "ORDER BY p2.started_at DESC LIMIT 1), reported_model, MIN(COALESCE(finished_at, started_at)), "
            "MAX(COALESCE(finished_at, started_at)), COUNT(*) FROM responses p "
            "WHERE engine = 'openai' AND reported_model IS NOT NULL AND reported_model != '' "
            "GROUP BY model_ref, reported_model ORDER BY model_ref, MIN(COALESCE(finished_at, started_at))"
        )

    def tags(self) -> list[str]:
        return [r[0] for r in self.query("SELECT DISTINCT tag FROM rounds WHERE tag IS NOT NULL ORDER BY tag")]

    def tagged_rounds(self) -> dict[str, "np.ndarray"]:
        """Each category (tag) and the ids of its rounds, read from the index on tags (a
        BattleColumns' round_id says which category each battle is in). Rounds with an empty
        tag are untagged, as everywhere else."""
        return {tag: _ints(ids) for tag, ids in
                self.query("SELECT tag, group_concat(id) FROM rounds WHERE tag IS NOT NULL AND tag != '' GROUP BY tag")}

    def latest_answers(self) -> list[tuple[str, str, str]]:
        """(model_ref, label, engine) of each model's latest answer, oldest first: what names it."""
        return self.query("SELECT model_ref, model, engine FROM responses WHERE id IN "
                          "(SELECT MAX(id) FROM responses GROUP BY model_ref) ORDER BY id")


_WHOLE_NUMBERS = re.compile(r"-?\d+(?:,-?\d+)*")


def _ints(text: str | None, n: int | None = None) -> "np.ndarray":
    """A comma-joined list of whole numbers (SQLite's group_concat) as an array; ValueError when
    it holds anything else or not `n` of them."""
    import numpy as np

    if not text:
        values = np.zeros(0, np.int64)
    else:
        # Checked before numpy reads it: numpy 1.x reads "2.5" as 2 with only a DeprecationWarning,
        # and turning that into an error (warnings.catch_warnings) changes the filters of every
        # thread while boards are read on workers. Digits and commas are checked at C speed; a
        # list with anything else (a minus sign: rare) by the slower pattern.
        if (text.encode().translate(None, b"0123456789,") and not _WHOLE_NUMBERS.fullmatch(text)
                or ",," in text or text[0] == "," or text[-1] == ","):
            raise ValueError("not a list of whole numbers")
        values = np.fromstring(text, dtype=np.int64, sep=",")
    if n is not None and len(values) != n or text and len(values) != text.count(",") + 1:
        raise ValueError("not a list of whole numbers")
    return values


def _lookup(keys: "np.ndarray", wanted: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """For each wanted id, its index in keys (distinct ids) and whether it is there."""
    import numpy as np

    if not len(keys):
        return np.zeros(len(wanted), np.int64), np.zeros(len(wanted), bool)
    low, high = int(keys.min()), int(keys.max())
    if low >= 0 and high < 4 * len(keys) + (1 << 20):  # ids as this app makes them: a direct table
        table = np.full(high + 1, -1, dtype=np.int64)
        table[keys] = np.arange(len(keys))
        at = table[np.clip(wanted, 0, high)]
        found = (wanted >= 0) & (wanted <= high) & (at >= 0)
        return np.where(found, at, 0), found
    order = np.argsort(keys)
    at = np.minimum(np.searchsorted(keys[order], wanted), len(keys) - 1)
    return order[at], keys[order[at]] == wanted


def _columns_from_lists(lists, times, answers, other_panes) -> "BattleColumns":
    """BattleColumns from battle_columns()'s reads: the battles' integer columns as comma-joined
    lists (answer a, answer b, battle, vote, round, winner + 4 × blind), their times, and per model
    (ref, label) its answers' ids and positions; sorted as battles() sorts (vote time, battle id)."""
    import numpy as np

    from .battles import BattleColumns

    n = len(times)
    tstamp = np.fromiter(itertools.chain.from_iterable(times), float, n)
    resp_a, resp_b, battle_id, vote_id, round_id, code = (_ints(text, n) for text in lists)
    if n and not (np.diff(battle_id) > 0).all():
        # The times come in battle id order; group_concat's order is SQLite's to choose.
        by_id = np.argsort(battle_id)
        resp_a, resp_b, battle_id, vote_id, round_id, code = (
            x[by_id] for x in (resp_a, resp_b, battle_id, vote_id, round_id, code))
    ref_index: dict[str, int] = {}
    label_index: dict[str, int] = {}
    ids, positions, ref_of, label_of = [], [], [], []
    for ref, label, id_list, position_list in answers:
        got = _ints(id_list)
        ids.append(got)
        positions.append(_ints(position_list, len(got)))
        ref_of.append(np.full(len(got), ref_index.setdefault(ref, len(ref_index)), np.int64))
        label_of.append(np.full(len(got), label_index.setdefault(label, len(label_index)), np.int64))
    empty = np.zeros(0, np.int64)
    ids, positions, ref_of, label_of = (np.concatenate(x) if x else empty for x in (ids, positions, ref_of, label_of))
    at_a, found_a = _lookup(ids, resp_a)
    at_b, found_b = _lookup(ids, resp_b)
    keep = found_a & found_b  # battles() joins the answers: a battle whose answer is missing is not one
    at_a, at_b = at_a[keep], at_b[keep]
    model_a, model_b, label_a, label_b = ref_of[at_a], ref_of[at_b], label_of[at_a], label_of[at_b]
    # Only the refs and labels of these battles, numbered as before
    refs, labels = list(ref_index), list(label_index)
    model_a, model_b, refs = _only_used(model_a, model_b, refs)
    label_a, label_b, labels = _only_used(label_a, label_b, labels)
    round_id = round_id[keep]
    panes = np.full(len(round_id), 2, dtype=np.int64)
    if other_panes:
        keys = np.fromiter((k for k, _ in other_panes), np.int64, len(other_panes))
        counts = np.fromiter((c for _, c in other_panes), np.int64, len(other_panes))
        at, hit = _lookup(keys, round_id)
        panes[hit] = counts[at[hit]]
    tstamp, battle_id, code = tstamp[keep], battle_id[keep], code[keep]
    order = np.lexsort((battle_id, tstamp))  # ORDER BY v.created_at, b.id
    code = code[order]
    return BattleColumns(
        refs, labels, model_a[order], model_b[order], label_a[order], label_b[order], code & 3,
        (code >> 2).astype(bool), positions[at_a][order], positions[at_b][order], tstamp[order], panes[order],
        battle_id[order], vote_id[keep][order], round_id[order],
    )


def _only_used(a: "np.ndarray", b: "np.ndarray", names: list[str]) -> tuple["np.ndarray", "np.ndarray", list[str]]:
    """Indices a and b into names renumbered over the names they use (in names' order)."""
    import numpy as np

    used = np.zeros(len(names), dtype=bool)
    used[a] = True
    used[b] = True
    new = np.cumsum(used) - 1
    return new[a], new[b], [name for name, u in zip(names, used.tolist()) if u]


def _battles_for(outcome: str, best_position: int | None, positions: list[int]) -> list[tuple[int, int, str]]:
    """The pairwise outcomes (position a, position b, winner) that a vote implies."""
    if outcome in ("left", "right"):
        if len(positions) != 2:
            raise ValueError("left/right votes need exactly two answers; use 'best' with more")
        return [(positions[0], positions[1], "a" if outcome == "left" else "b")]
    if outcome == "best":
        if best_position not in positions:
            raise ValueError(f"best_position {best_position!r} is not one of the answers shown")
        return [(best_position, p, "a") for p in positions if p != best_position]
    return [(a, b, outcome) for a, b in itertools.combinations(positions, 2)]


def _title_from(prompt: str) -> str:
    line = " ".join(re.sub(r"[*_`#>]+", "", prompt).split()) or " ".join(prompt.split())  # no Markdown marks
    return line if len(line) <= 60 else line[:57].rstrip() + "…"


def _statements(script: str) -> list[str]:
    """Split a migration into statements (sqlite3.complete_statement knows where they end)."""
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
