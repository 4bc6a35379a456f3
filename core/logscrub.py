"""Secrets never reach a log file or the console: every record is scrubbed on its way out.

Scrubbing the exception a caller sees is not enough: a warning logged with `exc_info` prints
the whole chain of exceptions, and an upstream 401 that echoes the API key sits in that chain.
So the filter below is attached to every handler and rewrites the message, its arguments and
the formatted traceback of each record.
"""

import logging
import re

from django.conf import settings

REDACTED = "[redacted]"
# Credential shapes we recognise wherever they appear: Groq keys, our ingest keys, bearer and
# basic Authorization values, and `password=`/`api_key=`-style pairs in URLs and reprs.
_PATTERNS = [
    (re.compile(r"\bgsk_[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"\bllmo_[A-Za-z0-9_\-]{8,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=\-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"(?i)(api[_-]?key|password|passwd|secret)(['\"]?\s*[=:]\s*['\"]?)[^\s'\",&}]+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)(://[^:/@\s]+:)[^@/\s]+@"), r"\1" + REDACTED + "@"),
]


def _configured_secrets() -> list[str]:
    values = [getattr(settings, name, "") for name in ("GROQ_API_KEY", "SECRET_KEY", "EMAIL_HOST_PASSWORD")]
    values += [db.get("PASSWORD", "") for db in getattr(settings, "DATABASES", {}).values()]
    # A very short value would redact ordinary words; settings refuse none, so skip them here.
    return [value for value in values if isinstance(value, str) and len(value) >= 6]


def scrub_configured_secrets(text: str) -> str:
    """`text` with every configured secret (API key, secret key, passwords) replaced by [redacted]."""
    for secret in _configured_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_log_text(text: str) -> str:
    """`text` with configured secrets and anything shaped like a credential replaced."""
    text = scrub_configured_secrets(text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretScrubFilter(logging.Filter):
    """Rewrites each record so no handler can print a secret; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.msg = scrub_log_text(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = scrub_log_text(record.exc_text)
            if record.stack_info:
                record.stack_info = scrub_log_text(record.stack_info)
        except Exception:  # noqa: BLE001 - a log line must never break the code that logs it
            record.msg, record.args = "[log message withheld: it could not be checked for secrets]", None
            record.exc_info = record.exc_text = None
        return True
