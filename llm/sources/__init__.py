"""Where calls come from: the Groq SDK in-process, batch ingest, OpenTelemetry, sample data."""
