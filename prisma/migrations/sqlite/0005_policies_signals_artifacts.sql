-- The policy in force when the run was created (JSON), and the cap on RUNNING runs of its
-- lane that policy set (null: no cap). The claim counts running runs against lane_cap.
ALTER TABLE runs ADD COLUMN policy TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN lane_cap INTEGER;
-- Lane caps: the claim counts the runs of a lane that are RUNNING (or PENDING under a lease).
CREATE INDEX runs_lane_status_idx ON runs (lane, status);
-- Pending runs of capped lanes, in pick order: the claim looks at these separately.
CREATE INDEX runs_capped_pending_idx ON runs (priority DESC, created_at, id)
  WHERE lane_cap IS NOT NULL AND status = 'PENDING';

-- A payload delivered by signalRun to a step waiting for one, not yet taken up by a tick.
ALTER TABLE steps ADD COLUMN signal TEXT;
ALTER TABLE steps ADD COLUMN signalled_at DATETIME;

CREATE TABLE artifacts (
  id           INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
  run_id       TEXT     NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  step_id      TEXT,
  name         TEXT     NOT NULL,
  content_type TEXT     NOT NULL,
  size         INTEGER  NOT NULL,
  sha256       TEXT     NOT NULL,
  content      TEXT     NOT NULL,
  created_at   DATETIME NOT NULL
);
CREATE INDEX artifacts_run_id_id_idx ON artifacts (run_id, id);
