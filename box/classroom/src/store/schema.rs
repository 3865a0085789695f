//! Schema migrations, applied in order and counted in `PRAGMA user_version`.
//!
//! A migration is never edited once released: add a new one at the end. Each one runs in
//! its own transaction together with the `user_version` bump, so a power cut leaves the
//! database at the previous version or the next, never in between.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: classes, pupils, teachers, sessions, learning records, outbox, settings.
    r#"
CREATE TABLE classes (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);
CREATE TABLE pupils (
    id        INTEGER PRIMARY KEY,
    uuid      TEXT NOT NULL UNIQUE,      -- pseudonymous id, the only one that leaves the box
    class_id  INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    name      TEXT NOT NULL,
    code      TEXT,                      -- optional 4-digit code (digits 1-9 when shown as pictures)
    code_kind TEXT NOT NULL DEFAULT 'none' CHECK (code_kind IN ('none', 'digits', 'pictures')),
    UNIQUE (class_id, name)
);
CREATE TABLE teachers (
    id             INTEGER PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL
);
CREATE TABLE sessions (
    token       TEXT PRIMARY KEY,
    pupil_id    INTEGER REFERENCES pupils(id) ON DELETE CASCADE,
    teacher_id  INTEGER REFERENCES teachers(id) ON DELETE CASCADE,
    created     INTEGER NOT NULL,
    CHECK ((pupil_id IS NULL) <> (teacher_id IS NULL))
);
-- Opened / completed activities (progress).
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    pupil_id  INTEGER NOT NULL REFERENCES pupils(id) ON DELETE CASCADE,
    verb      TEXT NOT NULL,
    pack      TEXT NOT NULL,
    path      TEXT NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX events_pupil ON events(pupil_id, pack);
CREATE TABLE attempts (
    id        INTEGER PRIMARY KEY,
    pupil_id  INTEGER NOT NULL REFERENCES pupils(id) ON DELETE CASCADE,
    pack      TEXT NOT NULL,
    quiz      TEXT NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX attempts_pupil ON attempts(pupil_id, pack, quiz);
CREATE TABLE answers (
    id          INTEGER PRIMARY KEY,
    attempt_id  INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
    question    TEXT NOT NULL,
    response    TEXT NOT NULL,           -- what the pupil answered, as shown back
    score       REAL,                    -- NULL: waits for the teacher's marking (essays)
    max         REAL NOT NULL,
    feedback    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX answers_attempt ON answers(attempt_id);
CREATE TABLE submissions (
    id         INTEGER PRIMARY KEY,
    pupil_id   INTEGER NOT NULL REFERENCES pupils(id) ON DELETE CASCADE,
    pack       TEXT NOT NULL,
    assign     TEXT NOT NULL,
    text       TEXT NOT NULL DEFAULT '',
    file_name  TEXT,
    file_type  TEXT,
    file       BLOB,
    at         INTEGER NOT NULL,
    mark       REAL,
    comment    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX submissions_pupil ON submissions(pupil_id);
-- xAPI statements waiting for an upstream push. Deleted with the pupil (RGPD).
CREATE TABLE outbox (
    id         TEXT PRIMARY KEY,         -- the statement's UUID
    pupil_id   INTEGER REFERENCES pupils(id) ON DELETE CASCADE,
    statement  TEXT NOT NULL,
    created    INTEGER NOT NULL,
    sent       INTEGER                   -- NULL until pushed upstream
);
CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"#,
    // 2: timed quizzes: when each attempt's form was first shown, and how late it came.
    r#"
CREATE TABLE quiz_starts (
    pupil_id    INTEGER NOT NULL REFERENCES pupils(id) ON DELETE CASCADE,
    pack        TEXT NOT NULL,
    quiz        TEXT NOT NULL,
    attempt_no  INTEGER NOT NULL,
    started     INTEGER NOT NULL,
    PRIMARY KEY (pupil_id, pack, quiz, attempt_no)
);
ALTER TABLE attempts ADD COLUMN over_time INTEGER NOT NULL DEFAULT 0;  -- seconds past the time limit
"#,
    // 3: the upstream push (preau-sync's `upstream` module marks and deletes rows; the
    // contract is in ARCHITECTURE.md, "Upstream push").
    r#"
ALTER TABLE outbox ADD COLUMN quarantined TEXT;        -- why the LRS refused it; never resent
ALTER TABLE outbox ADD COLUMN quarantined_at INTEGER;
CREATE INDEX outbox_sent ON outbox(sent);
"#,
    // 4: the teacher's per-quiz choices on this box (issue 14), never in the signed pack.
    r#"
CREATE TABLE quiz_settings (
    pack             TEXT NOT NULL,
    quiz             TEXT NOT NULL,
    release_answers  INTEGER NOT NULL DEFAULT 0,   -- 1: pupils see the right answers
    attempts_allowed INTEGER,                      -- NULL: the pack's limit; 0: unlimited
    PRIMARY KEY (pack, quiz)
);
"#,
    // 5: work a teacher gives to a class or some of its pupils (issue 15): pages,
    // activities and quizzes of installed packs, in order, with an optional due date.
    r#"
CREATE TABLE work (
    id        INTEGER PRIMARY KEY,
    class_id  INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    title     TEXT NOT NULL,
    due       INTEGER,                  -- Unix time of the end of the due day; NULL: none
    visible   INTEGER NOT NULL DEFAULT 1,
    created   INTEGER NOT NULL
);
CREATE INDEX work_class ON work(class_id);
CREATE TABLE work_items (
    work_id   INTEGER NOT NULL REFERENCES work(id) ON DELETE CASCADE,
    pos       INTEGER NOT NULL,
    pack      TEXT NOT NULL,
    path      TEXT NOT NULL,            -- a page, `_quiz/<id>` or `_assign/<id>`
    title     TEXT NOT NULL,
    PRIMARY KEY (work_id, pos)
);
-- No row: the whole class.
CREATE TABLE work_pupils (
    work_id   INTEGER NOT NULL REFERENCES work(id) ON DELETE CASCADE,
    pupil_id  INTEGER NOT NULL REFERENCES pupils(id) ON DELETE CASCADE,
    PRIMARY KEY (work_id, pupil_id)
);
"#,
    // 6: a teacher's mark on an answer (an essay marked, or a mark changed), kept with
    // who and when; the pupil sees it with the comment.
    r#"
ALTER TABLE answers ADD COLUMN marked_by TEXT;           -- the teacher's name
ALTER TABLE answers ADD COLUMN marked_at INTEGER;
ALTER TABLE answers ADD COLUMN teacher_comment TEXT NOT NULL DEFAULT '';
"#,
    // 7: quizzes a teacher built from the question banks of installed packs, stored on
    // the box as the teacher's own (never inside a signed pack), as `preau_pack::quiz`
    // JSON so the player reads them like a pack's.
    r#"
CREATE TABLE own_quizzes (
    id       TEXT PRIMARY KEY,
    title    TEXT NOT NULL,
    quiz     TEXT NOT NULL,
    created  INTEGER NOT NULL
);
"#,
];
