-- How many times in a row the database refused to commit a tick's changes for the run (a
-- commit that lands resets it). At the engine's budget the run is FAILED instead of being
-- retried forever (src/engine/commit.ts).
ALTER TABLE runs ADD COLUMN commit_failures INTEGER NOT NULL DEFAULT 0;

-- Pending runs of capped lanes, by lane and then in pick order: the claim walks the lanes
-- (a skip scan over the first column) and reads only each lane's first runs.
DROP INDEX runs_capped_pending_idx;
CREATE INDEX runs_capped_pending_idx ON runs (lane, priority DESC, created_at, id)
  WHERE lane_cap IS NOT NULL AND status = 'PENDING';
-- A lane's RUNNING runs, counted against its cap. This replaces the (lane, status) index,
-- which PostgreSQL preferred for the skip scan above and then read through every pending
-- run of uncapped lanes.
DROP INDEX runs_lane_status_idx;
CREATE INDEX runs_running_lane_idx ON runs (lane) WHERE status = 'RUNNING';
-- The due runs no cap holds back right now (uncapped lanes, or runs already started), in
-- pick order. It replaces the index of every due run, which the claim read through any
-- number of pending runs of capped lanes to find them.
DROP INDEX runs_due_idx;
CREATE INDEX runs_open_due_idx ON runs (priority DESC, created_at, id)
  WHERE wake_at IS NOT NULL AND (lane_cap IS NULL OR status <> 'PENDING');

-- events.id and artifacts.id are INTEGER PRIMARY KEY columns: SQLite stores those as
-- 64-bit integers already, so no change is needed for 64-bit ids on this dialect.
