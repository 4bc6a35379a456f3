"""Loaded with `-p` before pytest-django imports the settings (see pytest.ini).

The suite needs a fixed environment whatever the developer's shell or .env holds:
a secret key, plain-http cookies and no HTTPS redirect for the test client, and a
Groq key that is obviously fake. DATABASE_URL is deliberately left alone: set it
to run the same suite on PostgreSQL.
"""

import os

TEST_ENV = {
    "DEBUG": "False",
    "DJANGO_SECRET_KEY": "test-secret-key-not-for-production",
    "SECURE_SSL_REDIRECT": "False",
    "SESSION_COOKIE_SECURE": "False",
    "CSRF_COOKIE_SECURE": "False",
    "SECURE_HSTS_SECONDS": "0",
    "GROQ_API_KEY": "gsk_test_fake_key_never_sent_anywhere_real",
    "ALERT_EMAIL_RECIPIENTS": "oncall@example.com",
    "LOG_LEVEL": "WARNING",
}

for name, value in TEST_ENV.items():
    os.environ[name] = value
