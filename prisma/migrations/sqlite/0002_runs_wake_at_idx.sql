-- Queue depth and the oldest queued run (workerStatus) read due runs by wake time; without
-- this index they scan every run, terminal ones included (50 ms at a million runs).
CREATE INDEX runs_wake_at_idx ON runs (wake_at) WHERE wake_at IS NOT NULL;
