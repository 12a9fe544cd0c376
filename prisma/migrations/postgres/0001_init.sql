-- Forge schema, PostgreSQL dialect: the tables of prisma/schema.prisma with the types
-- Prisma maps them to (String -> TEXT, Int -> INTEGER, DateTime -> TIMESTAMP(3), UTC).
-- tests/schema-drift.test.ts checks every model field against the migrated database.
-- The SQLite history (0001-0003) is folded into this one file: same tables, same indexes.

CREATE TABLE runs (
  id               TEXT         NOT NULL PRIMARY KEY,
  mode             TEXT         NOT NULL,
  job_type         TEXT         NOT NULL,
  lane             TEXT         NOT NULL,
  requested_by     TEXT         NOT NULL,
  priority         INTEGER      NOT NULL,
  status           TEXT         NOT NULL,
  graph            TEXT         NOT NULL,
  params           TEXT         NOT NULL,
  idempotency_key  TEXT,
  input_hash       TEXT         NOT NULL,
  created_at       TIMESTAMP(3) NOT NULL,
  updated_at       TIMESTAMP(3) NOT NULL,
  started_at       TIMESTAMP(3),
  finished_at      TIMESTAMP(3),
  seq              INTEGER      NOT NULL DEFAULT 0,
  lease_owner      TEXT,
  lease_epoch      INTEGER      NOT NULL DEFAULT 0,
  lease_expires_at TIMESTAMP(3),
  wake_at          TIMESTAMP(3)
);

CREATE UNIQUE INDEX runs_idempotency_key_key ON runs (idempotency_key);
-- Dashboard listing: newest first, optionally filtered by one column.
CREATE INDEX runs_created_at_id_idx ON runs (created_at DESC, id DESC);
CREATE INDEX runs_status_created_at_id_idx ON runs (status, created_at DESC, id DESC);
CREATE INDEX runs_job_type_created_at_id_idx ON runs (job_type, created_at DESC, id DESC);
CREATE INDEX runs_lane_created_at_id_idx ON runs (lane, created_at DESC, id DESC);
-- Scheduler pick: only runs with work to do, already in pick order.
CREATE INDEX runs_due_idx ON runs (priority DESC, created_at, id) WHERE wake_at IS NOT NULL;
-- Queue depth and the oldest queued run (workerStatus).
CREATE INDEX runs_wake_at_idx ON runs (wake_at) WHERE wake_at IS NOT NULL;
-- Runs under a lease right now (TickResult.skippedLeased).
CREATE INDEX runs_leased_idx ON runs (lease_expires_at) WHERE lease_owner IS NOT NULL;

CREATE TABLE steps (
  run_id      TEXT         NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  id          TEXT         NOT NULL,
  position    INTEGER      NOT NULL,
  type        TEXT         NOT NULL,
  deps        TEXT         NOT NULL,
  status      TEXT         NOT NULL,
  attempts    INTEGER      NOT NULL DEFAULT 0,
  started_at  TIMESTAMP(3),
  finished_at TIMESTAMP(3),
  output      TEXT,
  error       TEXT,
  PRIMARY KEY (run_id, id)
);
CREATE INDEX steps_run_id_position_idx ON steps (run_id, position);

-- id is the global position. Sequence values can commit out of order, so every insert
-- into events takes the events lock first and holds it to commit (src/store/dialect.ts):
-- ids are then handed out in commit order and `id > cursor` never skips one.
CREATE TABLE events (
  id         SERIAL       NOT NULL PRIMARY KEY,
  run_id     TEXT         NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  seq        INTEGER      NOT NULL,
  type       TEXT         NOT NULL,
  step_id    TEXT,
  data       TEXT,
  created_at TIMESTAMP(3) NOT NULL
);
CREATE UNIQUE INDEX events_run_id_seq_key ON events (run_id, seq);

CREATE TABLE workers (
  id           TEXT         NOT NULL PRIMARY KEY,
  started_at   TIMESTAMP(3) NOT NULL,
  heartbeat_at TIMESTAMP(3) NOT NULL,
  stopped_at   TIMESTAMP(3),
  ticks        INTEGER      NOT NULL DEFAULT 0,
  last_tick_at TIMESTAMP(3)
);
