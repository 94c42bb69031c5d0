"""Where ArenaDesk keeps things on disk.

Everything lives in the platform's usual folders (platformdirs). One override,
ARENADESK_HOME, puts every folder under a single directory: tests use it so they
never touch the user's data, and it makes a portable install possible.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "ArenaDesk"
APP_ID = "io.github.arenadesk.ArenaDesk"  # reverse-DNS id: desktop file, AppStream, keyring service


@dataclass(frozen=True)
class Folders:
    data: Path
    config: Path
    cache: Path
    models: Path
    logs: Path

    @property
    def database(self) -> Path:
        return self.data / "arenadesk.sqlite3"

    @property
    def settings_file(self) -> Path:
        return self.config / "settings.json"

    @property
    def prices_file(self) -> Path:
        """The user's editable copy of the price table (seeded from resources/)."""
        return self.config / "prices.json"

    @property
    def downloads(self) -> Path:
        """Partial downloads; a file moves to `models` only once verified."""
        return self.cache / "downloads"

    @property
    def exports(self) -> Path:
        """Where the export dialogs open (README: exports live under the data folder; with
        --home that is the portable folder too)."""
        return self.data / "exports"

    def all(self) -> list[Path]:
        return [self.data, self.config, self.cache, self.models, self.logs]

    def ensure(self) -> "Folders":
        for folder in self.all() + [self.downloads]:
            folder.mkdir(parents=True, exist_ok=True)
        return self


def folders(home: str | os.PathLike | None = None) -> Folders:
    """The folders to use now: `home`, else $ARENADESK_HOME, else the platform's."""
    home = home or os.environ.get("ARENADESK_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return Folders(
            data=root / "data",
            config=root / "config",
            cache=root / "cache",
            models=root / "data" / "models",
            logs=root / "logs",
        )
    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    data = Path(dirs.user_data_dir)
    return Folders(
        data=data,
        config=Path(dirs.user_config_dir),
        cache=Path(dirs.user_cache_dir),
        models=data / "models",
        logs=Path(dirs.user_log_dir),
    )
