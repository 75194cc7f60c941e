"""Client profiles: where the platform is and who the application is.

A profile is a small JSON file: the platform URL, the application id, the
record to work on and the paths of the application's private key and
certificate. ``hvgen serve`` writes one for the local server, so that client
commands in another shell need no flags.

Which profile is used, first match wins: an explicit path, the
``HVGEN_PROFILE`` environment variable, ``$XDG_CONFIG_HOME/hvgen/profile.json``,
``~/.config/hvgen/profile.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

from . import filemodes
from .errors import HealthVaultError
from .weburl import url_problem

PROFILE_ENV = "HVGEN_PROFILE"


class ProfileError(HealthVaultError):
    """A profile that is missing, unreadable, incomplete or names a URL that cannot work."""


def config_dir() -> Path:
    """The per-user hvgen configuration folder."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hvgen"


def default_profile_path() -> Path:
    """The profile used when none is named."""
    env = os.environ.get(PROFILE_ENV)
    return Path(env) if env else config_dir() / "profile.json"


@dataclass
class Profile:
    """Everything a client needs to reach a platform as an application."""

    url: str
    app_id: str
    record_id: str
    key_path: str
    cert_path: str
    person_id: str = ""

    @classmethod
    def load(cls, path: Path | str | None = None) -> Profile:
        """Read a profile (see the module docstring for which one); a
        missing, unreadable or incomplete one, or one whose url cannot work,
        raises :class:`ProfileError` saying what is wrong."""
        target = Path(path) if path else default_profile_path()
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ProfileError(
                f"no client profile at {target}: start `hvgen serve` (it writes one) "
                f"or point {PROFILE_ENV} or --profile at a profile file"
            ) from None
        except IsADirectoryError:
            raise ProfileError(f"cannot read client profile {target}: it is a folder") from None
        except PermissionError:
            raise ProfileError(f"cannot read client profile {target}: permission denied") from None
        except OSError as exc:
            raise ProfileError(f"cannot read client profile {target}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ProfileError(f"client profile {target} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ProfileError(
                f"client profile {target} is not a JSON object with url, app_id, record_id, key_path and cert_path"
            )
        required = [f.name for f in fields(cls) if f.default is MISSING and not str(data.get(f.name) or "").strip()]
        if required:
            raise ProfileError(
                f"client profile {target} is incomplete: it lacks {', '.join(required)} "
                "(`hvgen serve` writes a complete one)"
            )
        profile = cls(**{k: str(v) for k, v in data.items() if k in cls.__dataclass_fields__})
        problem = url_problem(profile.url)
        if problem is not None:
            raise ProfileError(
                f"client profile {target} has url {profile.url!r}, which is not a usable URL: {problem}; "
                "correct it (`hvgen serve` writes a correct one for the local platform)"
            )
        return profile

    def save(self, path: Path | str | None = None) -> Path:
        """Write the profile (owner-readable only) and return its path."""
        target = Path(path) if path else default_profile_path()
        filemodes.write_private(target, (json.dumps(asdict(self), indent=2) + "\n").encode("utf-8"))
        return target
