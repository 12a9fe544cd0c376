-- Forge schema, SQLite dialect. Timestamps are stored as Prisma stores DateTime on
-- SQLite: integer milliseconds since the Unix epoch, UTC.

CREATE TABLE runs (
  id               TEXT    NOT NULL PRIMARY KEY,
  mode             TEXT    NOT NULL,
  job_type         TEXT    NOT NULL,
  lane             TEXT    NOT NULL,
  requested_by     TEXT    NOT NULL,
  priority         INTEGER NOT NULL,
  status           TEXT    NOT NULL,
  graph            TEXT    NOT NULL,
  params           TEXT    NOT NULL,
  idempotency_key  TEXT,
  input_hash       TEXT    NOT NULL,
  created_at       DATETIME NOT NULL,
  updated_at       DATETIME NOT NULL,
  started_at       DATETIME,
  finished_at      DATETIME,
  seq              INTEGER NOT NULL DEFAULT 0,
  lease_owner      TEXT,
  lease_epoch      INTEGER NOT NULL DEFAULT 0,
  lease_expires_at DATETIME,
  wake_at          DATETIME
);

CREATE UNIQUE INDEX runs_idempotency_key_key ON runs (idempotency_key);
-- Dashboard listing: newest first, optionally filtered by one column.
CREATE INDEX runs_created_at_id_idx ON runs (created_at DESC, id DESC);
CREATE INDEX runs_status_created_at_id_idx ON runs (status, created_at DESC, id DESC);
CREATE INDEX runs_job_type_created_at_id_idx ON runs (job_type, created_at DESC, id DESC);
CREATE INDEX runs_lane_created_at_id_idx ON runs (lane, created_at DESC, id DESC);
-- Scheduler pick: only runs with work to do are in this index (terminal runs have no
-- wake_at), already in pick order, so a claim reads just the rows it takes.
CREATE INDEX runs_due_idx ON runs (priority DESC, created_at, id) WHERE wake_at IS NOT NULL;

CREATE TABLE steps (
  run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  id          TEXT    NOT NULL,
  position    INTEGER NOT NULL,
  type        TEXT    NOT NULL,
  deps        TEXT    NOT NULL,
  status      TEXT    NOT NULL,
  attempts    INTEGER NOT NULL DEFAULT 0,
  started_at  DATETIME,
  finished_at DATETIME,
  output      TEXT,
  error       TEXT,
  PRIMARY KEY (run_id, id)
);
CREATE INDEX steps_run_id_position_idx ON steps (run_id, position);

CREATE TABLE events (
  id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  run_id     TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  type       TEXT    NOT NULL,
  step_id    TEXT,
  data       TEXT,
  created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX events_run_id_seq_key ON events (run_id, seq);

CREATE TABLE workers (
  id           TEXT    NOT NULL PRIMARY KEY,
  started_at   DATETIME NOT NULL,
  heartbeat_at DATETIME NOT NULL,
  stopped_at   DATETIME,
  ticks        INTEGER NOT NULL DEFAULT 0,
  last_tick_at DATETIME
);
