"""A call, from any source, to one stored row: the record, its invariants, prices, persistence and the spool."""
