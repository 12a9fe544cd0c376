-- Runs under a lease right now: only those in a tick, so counting the ones another ticker
-- holds (TickResult.skippedLeased) reads a handful of entries instead of every due run
-- (1.5 ms a tick with 10,000 runs queued).
CREATE INDEX runs_leased_idx ON runs (lease_expires_at) WHERE lease_owner IS NOT NULL;
