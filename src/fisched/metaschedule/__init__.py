"""MetaSchedule plumbing: targets, the builder and runner, records, task extraction, fisched's schedule rule."""
