"""The local JWT secret: generated once, kept in the git-ignored ``.local/`` directory."""

from __future__ import annotations

import secrets
from pathlib import Path

from chalicelib import config


def ensure_jwt_secret() -> str:
    """Use ``TASKS_JWT_SECRET``, else the saved local secret, else a new one; says which."""
    if config.JWT_SECRET or config.JWT_PUBLIC_KEY:
        return "from TASKS_JWT_SECRET"
    path = Path(config.LOCAL_STATE_DIR) / "jwt-secret"
    source = f"secret kept in {path}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
        source = f"new {source}"
    config.set_jwt_secret(path.read_text().strip())
    return source
