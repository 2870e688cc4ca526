"""Settings: environment variables (`DIPLOMAS_*`) and the instance's institution file.

Nothing here runs at import; `Settings()` reads the environment when called, and
`load_institutions` reads the file that `diplomas init` wrote.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from .core.errors import ConfigurationError
from .core.ids import SERIAL_PREFIX
from .core.model import Institution, Signatory

INSTITUTION_FILE = "institution.toml"


class Settings(BaseSettings):
    """Where the instance lives and how it is protected. Every field is `DIPLOMAS_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="DIPLOMAS_", extra="ignore")

    home: Path = Path("var")
    keys_dir: Path = Path("keys")
    database_url: str = ""
    key_passphrase: SecretStr | None = None
    templates_dir: Path = Path("templates")
    """The instance's own diploma designs: they add to the designs that ship with the
    package, and override one of them by taking its name. A folder that does not exist
    adds nothing."""
    environment: Literal["development", "production"] = "development"
    max_upload_bytes: int = 10 * 1024 * 1024
    max_roster_bytes: int = 50 * 1024 * 1024
    batch_workers: int = 1
    """Worker processes for batches uploaded through the API (the CLI uses every core)."""
    rate_limit: int = Field(60, ge=0)
    """Requests per minute per client address on the public verify routes; 0 disables.
    Counted in each server process on its own (with N workers a client gets N times it)."""
    rate_limit_burst: int = Field(30, ge=1)
    """Requests a client may make at once before the per-minute rate applies."""
    verify_cache_size: int = Field(4096, ge=0)
    """Verdicts kept in each server process for the public lookups by id (the QR page and
    JSON), so that a diploma checked again is answered from memory; 0 keeps none."""
    verify_cache_check_seconds: float = Field(0.5, ge=0)
    """How often a server process reads the audit log for status changes and key events
    made by other processes (the CLI, other workers): a revocation made elsewhere shows
    within this many seconds. Changes made through the process itself show at once."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'diplomas.db').resolve()}"

    @property
    def institution_file(self) -> Path:
        return self.home / INSTITUTION_FILE

    @property
    def pdf_dir(self) -> Path:
        return self.home / "pdfs"

    def check_production(self) -> None:
        """Outside development the passphrase must come from the environment, not a file."""
        if self.environment == "production" and self.key_passphrase is None:
            raise ConfigurationError(
                "DIPLOMAS_KEY_PASSPHRASE must be set when DIPLOMAS_ENVIRONMENT=production"
            )


DEFAULT_INSTITUTION: dict[str, Any] = {
    "slug": "tbzmed",
    "name": "معاونت تحقیقات و فناوری دانشگاه علوم پزشکی تبریز",
    "name_en": (
        "Vice-Chancellery for Research and Technology, Tabriz University of Medical Sciences"
    ),
    "public_url": "http://127.0.0.1:8000",
    "serial_prefix": "TBZMED",
    "signatories": [
        {
            "name": "دکتر پرویز شهابی",
            "title": "معاون تحقیقات و فناوری",
            "name_en": "Dr Parviz Shahabi",
            "title_en": "Vice-Chancellor for Research and Technology",
        }
    ],
}


def institution_from(data: dict[str, Any]) -> Institution:
    try:
        prefix = str(data["serial_prefix"])
        if not SERIAL_PREFIX.match(prefix):
            raise ConfigurationError(
                f"serial_prefix {prefix!r} must be 2-16 capital letters or digits"
            )
        url = str(data["public_url"]).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"public_url {url!r} must start with http:// or https://")
        return Institution(
            slug=str(data["slug"]),
            name=str(data["name"]),
            name_en=str(data["name_en"]),
            public_url=url,
            serial_prefix=prefix,
            signatories=tuple(
                Signatory(
                    str(s["name"]),
                    str(s["title"]),
                    str(s.get("name_en", "")),
                    str(s.get("title_en", "")),
                )
                for s in data.get("signatories", [])
            ),
        )
    except KeyError as exc:
        raise ConfigurationError(f"institution settings lack {exc.args[0]!r}") from None


def load_institutions(path: Path) -> list[Institution]:
    """The institutions of this instance; the first one is the default issuer."""
    if not path.exists():
        raise ConfigurationError(
            f"{path} does not exist: run `diplomas init` first (or set DIPLOMAS_HOME)"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    entries = data.get("institutions")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path} has no [[institutions]] entry")
    institutions = [institution_from(e) for e in entries]
    slugs = [i.slug for i in institutions]
    if len(set(slugs)) != len(slugs):
        raise ConfigurationError(f"{path} names an institution slug twice")
    return institutions


def write_institutions(path: Path, institutions: list[dict[str, Any]]) -> None:
    header = (
        "# The institutions of this diplomas instance; the first is the default issuer.\n"
        "# public_url is what the QR code points to: set it to the address employers reach.\n"
    )
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(header + tomli_w.dumps({"institutions": institutions}), encoding="utf-8")
    os.replace(tmp, path)


def read_institution_entries(path: Path) -> list[dict[str, Any]]:
    """The raw [[institutions]] tables of the settings file, checked by `load_institutions`."""
    load_institutions(path)
    entries: list[dict[str, Any]] = tomllib.loads(path.read_text(encoding="utf-8"))["institutions"]
    return entries
