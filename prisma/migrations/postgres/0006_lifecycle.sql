-- The run this one re-runs (rerunRun); null for a run created by createRun(s).
ALTER TABLE runs ADD COLUMN rerun_of TEXT;
-- A run's re-runs, oldest first (Run.reruns), and whether a run has one (rerunRuns skips those).
CREATE INDEX runs_rerun_of_idx ON runs (rerun_of, created_at, id) WHERE rerun_of IS NOT NULL;
-- Finished runs by when they finished: what retention deletes, oldest first.
CREATE INDEX runs_finished_idx ON runs (finished_at) WHERE finished_at IS NOT NULL;

-- Pauses (API.md, "Pauses"): '' stands for "any" (lanes and job types have at least one
-- character), so a pause is one row keyed by both and the claim's check needs no NULL logic.
CREATE TABLE pauses (
  lane      TEXT         NOT NULL DEFAULT '',
  job_type  TEXT         NOT NULL DEFAULT '',
  paused_at TIMESTAMP(3) NOT NULL,
  reason    TEXT,
  PRIMARY KEY (lane, job_type)
);

-- Leases on work only one process may do at a time (the pruner): the same conditional
-- take-over as a run's lease, on a row of its own.
CREATE TABLE system_leases (
  name       TEXT         NOT NULL PRIMARY KEY,
  owner      TEXT         NOT NULL,
  expires_at TIMESTAMP(3) NOT NULL
);
