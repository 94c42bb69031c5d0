"""The database's history: named migrations, applied in order, recorded in a table.

Append new migrations at the end; never edit or reorder one that has shipped.
A database that records a migration this list does not know was made by a
newer ArenaDesk and is refused rather than touched.
"""
from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_conversations_rounds_responses_votes",
        """
        CREATE TABLE conversations (
            id          INTEGER PRIMARY KEY,
            uid         TEXT NOT NULL UNIQUE,           -- stable across machines (import merges on it)
            title       TEXT NOT NULL DEFAULT '',
            created_at  REAL NOT NULL,                  -- unix seconds
            blind       INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE rounds (
            id              INTEGER PRIMARY KEY,
            uid             TEXT NOT NULL UNIQUE,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            turn            INTEGER NOT NULL,           -- 0, 1, 2 ... within the conversation
            prompt          TEXT NOT NULL,
            system_prompt   TEXT NOT NULL DEFAULT '',
            tag             TEXT,                       -- the user's category for this prompt
            blind           INTEGER NOT NULL DEFAULT 0,
            created_at      REAL NOT NULL,
            UNIQUE (conversation_id, turn)
        );
        CREATE TABLE responses (
            id               INTEGER PRIMARY KEY,
            uid              TEXT NOT NULL UNIQUE,
            round_id         INTEGER NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
            slot             INTEGER NOT NULL,          -- the pane it belongs to
            position         INTEGER NOT NULL,          -- where it was shown: 0 = left
            engine           TEXT NOT NULL,             -- local | openai
            model            TEXT NOT NULL,             -- display name
            model_ref        TEXT NOT NULL,             -- sha256:<file hash> or API model name
            choice           TEXT NOT NULL DEFAULT '',  -- what the picker named: local:<path> | openai:<model>
            params           TEXT NOT NULL DEFAULT '{}',
            text             TEXT NOT NULL DEFAULT '',
            status           TEXT NOT NULL DEFAULT 'streaming'
                             CHECK (status IN ('streaming', 'done', 'cancelled', 'error')),
            error            TEXT,
            started_at       REAL,
            first_token_at   REAL,
            finished_at      REAL,
            tokens_in        INTEGER,
            tokens_out       INTEGER,
            tokens_estimated INTEGER NOT NULL DEFAULT 0,
            cost_usd         REAL,
            stars            INTEGER CHECK (stars BETWEEN 1 AND 5),
            UNIQUE (round_id, slot),
            UNIQUE (round_id, position)
        );
        CREATE TABLE votes (
            id            INTEGER PRIMARY KEY,
            uid           TEXT NOT NULL UNIQUE,
            round_id      INTEGER NOT NULL UNIQUE REFERENCES rounds(id) ON DELETE CASCADE,
            outcome       TEXT NOT NULL CHECK (outcome IN ('left', 'right', 'tie', 'both_bad', 'best')),
            best_position INTEGER,                      -- for 'best' among more than two panes
            note          TEXT NOT NULL DEFAULT '',
            blind         INTEGER NOT NULL DEFAULT 0,
            created_at    REAL NOT NULL,
            updated_at    REAL NOT NULL
        );
        -- The pairwise outcomes a vote implies; what the leaderboard reads.
        CREATE TABLE battles (
            id          INTEGER PRIMARY KEY,
            vote_id     INTEGER NOT NULL REFERENCES votes(id) ON DELETE CASCADE,
            response_a  INTEGER NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
            response_b  INTEGER NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
            winner      TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'both_bad'))
        );
        CREATE INDEX rounds_by_conversation ON rounds(conversation_id, turn);
        CREATE INDEX responses_by_round ON responses(round_id);
        CREATE INDEX battles_by_vote ON battles(vote_id);
        CREATE INDEX conversations_by_time ON conversations(created_at);
        """,
    ),
    (
        "0002_local_models",
        """
        -- Installed GGUF files the library knows, with what their header says.
        CREATE TABLE local_models (
            id           INTEGER PRIMARY KEY,
            path         TEXT NOT NULL UNIQUE,
            sha256       TEXT,
            size         INTEGER NOT NULL,
            mtime        REAL NOT NULL,
            name         TEXT NOT NULL,
            architecture TEXT,
            parameters   INTEGER,
            quant        TEXT,
            context_length INTEGER,
            chat_template INTEGER NOT NULL DEFAULT 0,
            source       TEXT,                           -- repo id it came from, if downloaded
            added_at     REAL NOT NULL
        );
        """,
    ),
    (
        "0003_last_token_at",
        """
        -- When the last token was shown: tokens/s runs to it, as in the window (text a backend
        -- holds back while checking stop strings, and the closing bookkeeping, are not decoding).
        ALTER TABLE responses ADD COLUMN last_token_at REAL;
        """,
    ),
    (
        "0009_judge_votes",
        """
        -- An LLM judge's verdicts: their own kind of vote, never in `votes`/`battles` (the user's),
        -- so nothing that reads the user's votes can pick one up by accident. One row per pair of
        -- answers and judge; the pair is judged in both orders (a shown first, then b shown first).
        CREATE TABLE judge_votes (
            id           INTEGER PRIMARY KEY,
            uid          TEXT NOT NULL UNIQUE,
            round_id     INTEGER NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,
            response_a   INTEGER NOT NULL REFERENCES responses(id) ON DELETE CASCADE,  -- the one shown further left
            response_b   INTEGER NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
            judge_ref    TEXT NOT NULL,                  -- the judge model's identity (as responses.model_ref)
            judge_label  TEXT NOT NULL,                  -- its display name
            judge_choice TEXT NOT NULL DEFAULT '',       -- what picked it: local:<path> | openai:<model>
            verdict_ab   TEXT CHECK (verdict_ab IN ('a', 'b', 'tie')),  -- a shown first; NULL: unparseable
            verdict_ba   TEXT CHECK (verdict_ba IN ('a', 'b', 'tie')),  -- b shown first, said in a/b terms
            winner       TEXT CHECK (winner IN ('a', 'b', 'tie')),      -- both orders together; NULL: not a vote
            reason_ab    TEXT NOT NULL DEFAULT '',
            reason_ba    TEXT NOT NULL DEFAULT '',
            raw_ab       TEXT NOT NULL DEFAULT '',       -- the judge's replies, kept so a verdict can be checked
            raw_ba       TEXT NOT NULL DEFAULT '',
            error        TEXT,                           -- the engine failed: no verdict
            reference    TEXT,                           -- the reference answer shown to the judge, if any
            created_at   REAL NOT NULL,
            UNIQUE (judge_ref, response_a, response_b)
        );
        CREATE INDEX judge_votes_by_round ON judge_votes(round_id);
        -- A regenerated answer is another answer: what the judge said about the old one goes.
        CREATE TRIGGER judge_votes_stale AFTER UPDATE OF text ON responses
        WHEN OLD.text IS NOT NEW.text
        BEGIN
            DELETE FROM judge_votes WHERE response_a = NEW.id OR response_b = NEW.id;
        END;
        """,
    ),
    (
        "0008_found_models",
        """
        -- GGUF files found in other tools' folders (LM Studio, Ollama, the hub cache…), used in place.
        -- Rewritten by each scan; sha256 and the header columns are kept while size and mtime hold.
        CREATE TABLE found_models (
            path           TEXT PRIMARY KEY,            -- what llama.cpp opens (a split model's first part)
            tool           TEXT NOT NULL,               -- Ollama, LM Studio… or a folder the user added
            label          TEXT NOT NULL,               -- the tool's name for it: llama3.2:3b
            kind           TEXT NOT NULL,               -- model | projector | adapter | partial | incomplete split | unreadable
            note           TEXT,                        -- why anything but a model is not offered
            size           INTEGER NOT NULL,            -- all parts together
            mtime          REAL NOT NULL,
            identity       TEXT NOT NULL,               -- device:inode of the real file
            parts          TEXT NOT NULL DEFAULT '[]',  -- a split model's files (JSON list)
            also           TEXT NOT NULL DEFAULT '[]',  -- where else the same file was seen (JSON list)
            sha256         TEXT,                        -- computed once in the background, or the store's own
            examined       INTEGER NOT NULL DEFAULT 0,  -- the full header was read
            architecture   TEXT,
            parameters     INTEGER,
            quant          TEXT,
            context_length INTEGER,
            chat_template  INTEGER,
            position       INTEGER NOT NULL,            -- order of the last scan
            seen_at        REAL NOT NULL
        );
        """,
    ),
    (
        "0010_response_writer",
        """
        -- Which running ArenaDesk writes a streaming answer (Store.run_id). A later start closes
        -- the streaming answers of runs that are gone, at once, and leaves a live run's alone.
        ALTER TABLE responses ADD COLUMN writer TEXT;
        """,
    ),
    (
        "0007_suites",
        """
        -- Unattended suite runs: what was asked (a copy of the suite's items, so editing the suite
        -- later changes nothing), of whom, and every answer's state, so a run resumes after a
        -- restart or a crash without answering anything twice.
        CREATE TABLE suite_runs (
            id           INTEGER PRIMARY KEY,
            uid          TEXT NOT NULL UNIQUE,
            suite        TEXT NOT NULL,                   -- the suite's name when the run began
            items        TEXT NOT NULL,                   -- JSON list of the suite's items
            contestants  TEXT NOT NULL,                   -- JSON list of {choice, label, engine, ref}
            params       TEXT NOT NULL DEFAULT '{}',      -- sampling (JSON)
            system_prompt TEXT NOT NULL DEFAULT '',
            status       TEXT NOT NULL DEFAULT 'ready'
                         CHECK (status IN ('ready', 'running', 'paused', 'stopped', 'done')),
            runner_pid   INTEGER,                         -- the process answering it now, if any
            runner_host  TEXT,
            created_at   REAL NOT NULL,
            finished_at  REAL
        );
        CREATE TABLE suite_answers (
            id               INTEGER PRIMARY KEY,
            run_id           INTEGER NOT NULL REFERENCES suite_runs(id) ON DELETE CASCADE,
            item             INTEGER NOT NULL,            -- index into the run's items
            turn             INTEGER NOT NULL,
            contestant       INTEGER NOT NULL,            -- index into the run's contestants
            status           TEXT NOT NULL DEFAULT 'pending'
                             CHECK (status IN ('pending', 'running', 'done', 'error')),
            text             TEXT NOT NULL DEFAULT '',
            error            TEXT,
            model            TEXT NOT NULL DEFAULT '',
            model_ref        TEXT NOT NULL DEFAULT '',
            started_at       REAL,
            first_token_at   REAL,
            last_token_at    REAL,
            finished_at      REAL,
            tokens_in        INTEGER,
            tokens_out       INTEGER,
            tokens_estimated INTEGER NOT NULL DEFAULT 0,
            cost_usd         REAL,
            UNIQUE (run_id, item, turn, contestant)
        );
        -- A pair of a run's answers rated in the queue becomes an ordinary blind conversation
        -- (so its vote feeds the leaderboard, filters and exports like any other); this row says
        -- which pair it was. Deleting the conversation makes the pair rateable again.
        CREATE TABLE suite_pairs (
            id              INTEGER PRIMARY KEY,
            run_id          INTEGER NOT NULL REFERENCES suite_runs(id) ON DELETE CASCADE,
            item            INTEGER NOT NULL,
            contestant_a    INTEGER NOT NULL,             -- contestant_a < contestant_b
            contestant_b    INTEGER NOT NULL,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            round_id        INTEGER NOT NULL REFERENCES rounds(id) ON DELETE CASCADE,  -- the voted (last) turn
            created_at      REAL NOT NULL,
            UNIQUE (run_id, item, contestant_a, contestant_b)
        );
        CREATE INDEX suite_answers_by_run ON suite_answers(run_id, status);
        CREATE INDEX suite_pairs_by_run ON suite_pairs(run_id);
        """,
    ),
    (
        "0004_finish_reason_reasoning",
        """
        -- Why an answer ended (stop | length | cancelled | a server's own reason): 'length' is an
        -- answer cut at Max tokens, marked wherever it is shown or exported.
        ALTER TABLE responses ADD COLUMN finish_reason TEXT;
        -- A reasoning model's thinking, kept apart from the answer (never sent back as history),
        -- and when the answer proper began (time to first answer token, beside first token).
        ALTER TABLE responses ADD COLUMN reasoning TEXT NOT NULL DEFAULT '';
        ALTER TABLE responses ADD COLUMN first_answer_at REAL;
        """,
    ),
    (
        "0011_suite_answers_reasoning",
        """
        -- A suite answer keeps what a round's answer keeps (0004): why it ended ('length' is cut
        -- at Max tokens), a reasoning model's thinking apart from the answer, and when the answer
        -- proper began; the rating queue copies them into the pair's conversation.
        ALTER TABLE suite_answers ADD COLUMN finish_reason TEXT;
        ALTER TABLE suite_answers ADD COLUMN reasoning TEXT NOT NULL DEFAULT '';
        ALTER TABLE suite_answers ADD COLUMN first_answer_at REAL;
        """,
    ),
    (
        "0006_connections_identity",
        """
        -- An API answer's identity is its connection and model, not the model name alone: the
        -- same name on OpenAI and on a local server are different contestants. reported_model is
        -- what the server said answered (a dated snapshot behind an alias).
        ALTER TABLE responses ADD COLUMN connection TEXT NOT NULL DEFAULT '';
        ALTER TABLE responses ADD COLUMN reported_model TEXT;
        -- Before connections there was one base URL: every API answer came through it, and the
        -- settings migration turns it into the connection with id 'openai'. Its answers go there.
        UPDATE responses SET connection = 'openai', model_ref = model_ref || '@openai'
            WHERE engine = 'openai' AND instr(model_ref, '@') = 0;
        UPDATE responses SET connection = 'openai' WHERE engine = 'openai' AND connection = '';
        -- A judge's identity is written the way answers' are (migration 0009 comes first in this list).
        UPDATE judge_votes SET judge_ref = judge_ref || '@openai'
            WHERE judge_choice LIKE 'openai:%' AND instr(judge_ref, '@') = 0;
        CREATE INDEX responses_by_ref ON responses(model_ref);
        """,
    ),
    (
        "0012_responses_by_contestant",
        """
        -- The leaderboard reads which model gave each answer, and where it was shown, once per
        -- model from this index (Store.battle_columns), instead of one string per battle from the
        -- answers' rows. It begins with model_ref, so it also serves what responses_by_ref did.
        CREATE INDEX responses_by_contestant ON responses(model_ref, model, position);
        DROP INDEX responses_by_ref;
        -- The rounds of each category, read without the rounds' texts (the verdict splits the
        -- battles by category; the leaderboard's category list).
        CREATE INDEX rounds_by_tag ON rounds(tag);
        """,
    ),
    (
        "0013_rounds_revealed_at",
        """
        -- When a blind round's names were first shown (its first vote). Regenerate drops the vote
        -- but the names stay on screen, so "names shown" is recorded, never inferred from a vote:
        -- a follow-up after it goes with names, and a vote cast with names is not stored blind.
        ALTER TABLE rounds ADD COLUMN revealed_at REAL;
        -- Before this, the vote was the only record of a reveal: a blind round voted on was revealed.
        UPDATE rounds SET revealed_at = (SELECT MIN(v.created_at) FROM votes v WHERE v.round_id = rounds.id)
            WHERE blind = 1 AND EXISTS (SELECT 1 FROM votes v WHERE v.round_id = rounds.id);
        """,
    ),
]
