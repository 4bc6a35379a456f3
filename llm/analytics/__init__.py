"""Read-only figures over stored calls: filters, formulas, percentiles, time buckets, listings, export."""
