-- The newest run made from this one by rerunRun(s), kept when that run is pruned: whether a run
-- has been re-run is history, and rerunRuns must not re-run it again once its re-run is gone.
ALTER TABLE runs ADD COLUMN latest_rerun TEXT;
UPDATE runs SET latest_rerun = (SELECT max(r.id) FROM runs r WHERE r.rerun_of = runs.id)
  WHERE EXISTS (SELECT 1 FROM runs r WHERE r.rerun_of = runs.id);
