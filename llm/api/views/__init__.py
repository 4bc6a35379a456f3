"""API and page views, one module per area."""
