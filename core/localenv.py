"""Write a local .env for development from .env.example: DEBUG on and a fresh secret key.

Run by `make run` only when there is no .env yet; an existing file is never touched.
"""

import os
import secrets
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    target = BASE_DIR / ".env"
    if target.exists():
        print(".env exists; leaving it as it is.")
        return 0
    lines = []
    for line in (BASE_DIR / ".env.example").read_text().splitlines():
        if line.startswith("DEBUG="):
            line = "DEBUG=True"
        elif line.startswith("DJANGO_SECRET_KEY="):
            line = f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}"
        elif line.startswith("ALERT_EMAIL_RECIPIENTS="):
            # Locally mail goes to the console backend; a recipient makes alerts visible there.
            line = "ALERT_EMAIL_RECIPIENTS=oncall@localhost"
        elif line.startswith("SITE_URL="):
            line = f"SITE_URL=http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n")
    print("Wrote .env for local development (DEBUG on, new secret key).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
