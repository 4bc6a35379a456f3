"""The server-rendered pages; their scripts draw every figure from the API."""
