-- A WAITING step's due time (retry backoff, sleep); the run's wake_at is the earliest of them.
ALTER TABLE steps ADD COLUMN wake_at DATETIME;
