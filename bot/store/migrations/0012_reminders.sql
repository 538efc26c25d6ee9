-- Members' DM reminders (/citadel remind): which entries each member wants a DM for and at which
-- milestones, the DMs themselves (an outbox like `deliveries`: unique per member, entry, milestone and
-- premiere, a deterministic nonce, claimed before sending), and each member's DM channel and whether
-- Discord said their DMs are closed (then nothing more is tried until they ask again).

CREATE TABLE reminders (
    user_id    INTEGER NOT NULL,
    entry_id   INTEGER NOT NULL REFERENCES entries (id),
    milestones TEXT NOT NULL,                    -- days before the premiere, e.g. '7,1,0'
    since      TEXT NOT NULL,                    -- when the member asked: milestones that passed before are not theirs
    PRIMARY KEY (user_id, entry_id)
);

CREATE TABLE reminder_deliveries (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL,
    entry_id      INTEGER NOT NULL REFERENCES entries (id),
    milestone     INTEGER NOT NULL,
    premiere      TEXT NOT NULL,                 -- the premiere it counts down to
    due_at        TEXT NOT NULL,
    nonce         TEXT NOT NULL UNIQUE,          -- the same on every retry, so Discord sends the DM once
    status        TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    message_id    INTEGER,
    sent_at       TEXT,
    claimed_by    TEXT,                          -- the process sending it (a lease, as on deliveries)
    claim_expires TEXT,
    UNIQUE (user_id, entry_id, milestone, premiere)
);
CREATE INDEX reminder_deliveries_due ON reminder_deliveries (due_at) WHERE status = 'pending';
CREATE INDEX reminder_deliveries_claimed ON reminder_deliveries (claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE dm_recipients (
    user_id       INTEGER PRIMARY KEY,
    dm_channel_id INTEGER,                       -- the DM channel Discord opened for them, once it has
    closed_at     TEXT,                          -- when Discord refused a DM (50007); /citadel remind clears it
    problem       TEXT NOT NULL DEFAULT ''
);
