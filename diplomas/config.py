"""Settings: environment variables (`DIPLOMAS_*`) and the instance's institution file.

Nothing here runs at import; `Settings()` reads the environment when called, and
`configured_institutions` reads the file that `diplomas init` wrote.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import tomli_w
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from .atomic import write_atomic
from .core.errors import ConfigurationError
from .core.ids import SERIAL_PREFIX
from .core.model import Institution, Signatory
from .core.outbox import PDF_DELIVERIES

INSTITUTION_FILE = "institution.toml"


class Settings(BaseSettings):
    """Where the instance lives and how it is protected. Every field is `DIPLOMAS_<NAME>`."""

    # An empty variable counts as unset (compose passes `${VAR:-}` through as "").
    model_config = SettingsConfigDict(env_prefix="DIPLOMAS_", extra="ignore", env_ignore_empty=True)

    home: Path = Path("var")
    keys_dir: Path = Path("keys")
    database_url: str = ""
    key_passphrase: SecretStr | None = None
    key_passphrase_file: Path | None = None
    """A file holding the passphrase (a mounted secret), instead of key_passphrase."""
    pkcs11_pin: SecretStr | None = None
    """The user PIN of the PKCS#11 token that holds the signing keys, if they are in one
    (`diplomas keys init-token`); or DIPLOMAS_PKCS11_PIN_FILE, a file holding it."""
    pkcs11_pin_file: Path | None = None
    templates_dir: Path = Path("templates")
    """The instance's own diploma designs: they add to the designs that ship with the
    package, and override one of them by taking its name. A folder that does not exist
    adds nothing."""
    environment: Literal["development", "production"] = "development"
    max_upload_bytes: int = 10 * 1024 * 1024
    max_roster_bytes: int = 50 * 1024 * 1024
    batch_workers: int = 1
    """Worker processes for batches uploaded through the API (the CLI uses every core)."""

    # Past one machine (`diplomas.tasks`): batches run as shards on procrastinate. With
    # PostgreSQL its jobs live in the database and `diplomas worker` runs them on any
    # machine; with SQLite they run inside the server.
    pdf_store: Literal["auto", "files", "database"] = "auto"
    """DIPLOMAS_PDF_STORE: where signed PDFs live. `auto`: in the database with PostgreSQL
    (every replica serves every PDF), as files under home with SQLite."""
    embedded_worker: bool = True
    """DIPLOMAS_EMBEDDED_WORKER: the server runs batch shards itself too. Turn it off on
    replicas when `diplomas worker` processes do the work (SQLite: always on)."""
    worker_heartbeat_seconds: float = Field(10, gt=0)
    """How often a worker tells the database it is alive."""
    worker_stalled_seconds: float = Field(30, gt=0)
    """A worker silent this long is taken for dead: its shard is run again by another
    (shards are idempotent). Keep it a few heartbeats long."""
    rate_limit: int = Field(60, ge=0)
    """Requests per minute per client address on the public verify routes; 0 disables.
    Counted in each server process on its own (with N workers a client gets N times it)."""
    rate_limit_burst: int = Field(30, ge=1)
    """Requests a client may make at once before the per-minute rate applies."""
    lookup_rate_per_minute: int = Field(10, ge=0)
    """Serial lookups (serial and family name) per minute per client address; 0 disables.
    Apart from `rate_limit`: each lookup is a guess at a holder's name, so fewer are
    allowed than plain verifications."""
    lookup_rate_burst: int = Field(5, ge=1)
    verify_cache_size: int = Field(4096, ge=0)
    """Verdicts kept in each server process for the public lookups by id (the QR page and
    JSON), so that a diploma checked again is answered from memory; 0 keeps none."""
    verify_cache_check_seconds: float = Field(0.5, ge=0)
    """How often a server process reads the audit log for status changes and key events
    made by other processes (the CLI, other workers): a revocation made elsewhere shows
    within this many seconds. Changes made through the process itself show at once."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    trusted_proxies: str = ""
    """DIPLOMAS_TRUSTED_PROXIES: the reverse proxies (addresses or CIDRs, comma-separated)
    whose X-Forwarded-For and X-Forwarded-Proto are believed. Empty (the default): none,
    so a client cannot pick the address that rate limits count it under."""
    metrics_address: str = "127.0.0.1:9464"
    """DIPLOMAS_METRICS_ADDRESS (host:port): where `diplomas serve` answers /metrics, apart
    from the public app; `off` serves none."""
    api_docs: bool | None = None
    """DIPLOMAS_API_DOCS: serve /docs and /openapi.json. Unset: on in development, off in
    production (the API's description is for the office, not for strangers)."""
    auth_failures_per_minute: int = Field(10, ge=0)
    """Wrong or missing bearer tokens a client address may send per minute (at most this
    many at once) before its requests to authenticated routes get 429; 0 disables."""

    # PDF signatures with an RFC 3161 timestamp (PAdES B-T) and the validation data for
    # long-term checking (B-LT): see `signing_settings`.
    timestamp_url: str | None = None
    """DIPLOMAS_TIMESTAMP_URL: the timestamp authority's address; unset, PDFs are PAdES B-B."""
    timestamp_roots: Path | None = None
    """DIPLOMAS_TIMESTAMP_ROOTS: a PEM file of the authority's root certificate(s); needed
    with a timestamp authority, and trusted for timestamps only."""
    timestamp_username: str | None = None
    timestamp_password: SecretStr | None = None
    """DIPLOMAS_TIMESTAMP_USERNAME / _PASSWORD: HTTP basic credentials, if it asks."""
    embed_validation_info: bool | None = None
    """DIPLOMAS_EMBED_VALIDATION_INFO: embed OCSP responses and CRLs (PAdES B-LT); on by
    default when a timestamp authority is set."""

    # Single sign-on with the university's identity provider (OpenID Connect), beside
    # passwords: the provider proves who the person is; the console's own users (by email)
    # say what they may do. Unset: no single sign-on.
    oidc_issuer: str | None = None
    """DIPLOMAS_OIDC_ISSUER: the provider's issuer URL (its /.well-known/openid-configuration
    is read from there)."""
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    """DIPLOMAS_OIDC_CLIENT_ID / _SECRET: this console's registration at the provider."""
    oidc_name: str = "single sign-on"
    """DIPLOMAS_OIDC_NAME: the provider as the sign-in button names it."""

    # Mail to holders (`diplomas.mail`): the institution's own SMTP server. Unset, messages
    # stay queued in the outbox until it is set.
    smtp_url: SecretStr | None = None
    """DIPLOMAS_SMTP_URL: smtp://host[:587] (STARTTLS when the server offers it, required
    with credentials) or smtps://host[:465] (TLS from the start); user and password may be
    in it, or in DIPLOMAS_SMTP_USER / _PASSWORD. Secret: it may hold the password."""
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    """DIPLOMAS_SMTP_FROM: the sender's address (`Name <office@example.ac.ir>`)."""
    smtp_ca_file: Path | None = None
    """DIPLOMAS_SMTP_CA_FILE: a PEM file of the certificate authorities trusted for the
    server's certificate, instead of the system's."""
    smtp_timeout_seconds: float = Field(30, gt=0)
    """How long a sender waits for the server at each step before it tries again later."""
    mail_lease_seconds: float = Field(600, gt=0)
    """How long a sender holds a message: one whose sender died is taken up again (or
    counted as sent, see README) this long after it was claimed. Keep it well above the
    timeout."""

    # The issuing institution's settings, from the environment: each one given wins over
    # the settings file, so that a container is set up with variables alone and nobody
    # edits a file inside a volume.
    public_url: str | None = None
    """The address employers reach (DIPLOMAS_PUBLIC_URL); QR codes point here."""
    institution_name: str | None = None
    institution_name_en: str | None = None
    serial_prefix: str | None = None
    signatories: list[dict[str, str]] | None = None
    """DIPLOMAS_SIGNATORIES, as JSON: [{"name": …, "title": …, "name_en": …, "title_en": …}]."""
    logo: str | None = None
    """DIPLOMAS_LOGO: the issuer's logo, a PNG or JPEG file."""

    def institution_overrides(self) -> dict[str, Any]:
        """The issuer's settings that the environment gives, as settings-file keys."""
        given = {
            "public_url": self.public_url,
            "name": self.institution_name,
            "name_en": self.institution_name_en,
            "serial_prefix": self.serial_prefix,
            "signatories": self.signatories,
            # A path in the environment is taken from where the command runs.
            "logo": str(Path(self.logo).resolve()) if self.logo else None,
        }
        return {key: value for key, value in given.items() if value is not None}

    @property
    def uses_postgresql(self) -> bool:
        return self.effective_database_url.startswith(("postgresql", "postgres"))

    @property
    def pdfs_in_database(self) -> bool:
        if self.pdf_store == "auto":
            return self.uses_postgresql
        return self.pdf_store == "database"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'diplomas.db').resolve()}"

    @property
    def institution_file(self) -> Path:
        return self.home / INSTITUTION_FILE

    @property
    def pdf_dir(self) -> Path:
        return self.home / "pdfs"

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    def trusted_proxy_list(self) -> list[str]:
        """DIPLOMAS_TRUSTED_PROXIES as a list; ConfigurationError naming a bad entry."""
        entries = [e.strip() for e in self.trusted_proxies.split(",") if e.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigurationError(
                    f"DIPLOMAS_TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                    "(give the proxies' addresses or CIDRs, comma-separated, e.g. "
                    "172.16.0.0/12)"
                ) from None
        return entries

    def metrics_host_port(self) -> tuple[str, int] | None:
        """DIPLOMAS_METRICS_ADDRESS as (host, port), None when `off`; ConfigurationError
        when it is neither."""
        value = self.metrics_address.strip()
        if value.lower() == "off":
            return None
        host, _, port = value.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigurationError(
                f"DIPLOMAS_METRICS_ADDRESS: {value!r} is not host:port (e.g. 127.0.0.1:9464) or off"
            )
        return host, int(port)

    def check_production(self) -> None:
        """Outside development the passphrase must come from the environment, not a file."""
        given = self.key_passphrase is not None or self.key_passphrase_file is not None
        if self.environment == "production" and not given:
            raise ConfigurationError(
                "DIPLOMAS_KEY_PASSPHRASE or DIPLOMAS_KEY_PASSPHRASE_FILE must be set when "
                "DIPLOMAS_ENVIRONMENT=production"
            )


@dataclass(frozen=True)
class SigningSettings:
    """How PDF signatures are timestamped, checked: a URL without credentials in it, its
    roots' file, and the credentials from the environment only."""

    timestamp_url: str
    timestamp_roots: Path
    username: str = ""
    password: SecretStr = field(default_factory=lambda: SecretStr(""))
    embed_validation_info: bool = True


SIGNING_KEYS = frozenset({"timestamp_url", "timestamp_roots", "embed_validation_info"})
"""What the settings file's [signing] table may hold: never credentials (those come from
the environment only, so that the file can be shown and copied)."""


def signing_settings(settings: Settings) -> SigningSettings | None:
    """The timestamp authority's settings, or None when none is set (PAdES B-B): the
    environment's DIPLOMAS_TIMESTAMP_* variables, each winning over the same setting in
    the settings file's [signing] table."""
    table = read_signing_table(settings.institution_file)
    url = (settings.timestamp_url or str(table.get("timestamp_url", ""))).strip()
    if not url:
        return None
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigurationError(
            f"timestamp_url {url!r} must be an address like https://tsa.example.org/tsr"
        )
    if parsed.username or parsed.password:
        raise ConfigurationError(
            "timestamp_url must not hold credentials (they would show in logs and errors): "
            "give them in DIPLOMAS_TIMESTAMP_USERNAME and DIPLOMAS_TIMESTAMP_PASSWORD"
        )
    roots = settings.timestamp_roots
    if roots is None and table.get("timestamp_roots"):
        # a path in the file is taken from the file's folder, as its logo is
        roots = settings.home / str(table["timestamp_roots"])
    if roots is None:
        raise ConfigurationError(
            "a timestamp authority is set (timestamp_url) but DIPLOMAS_TIMESTAMP_ROOTS is "
            "not, nor timestamp_roots in [signing]: give a PEM file with the authority's "
            "root certificate, so that its timestamps can be trusted (ask the authority)"
        )
    embed = settings.embed_validation_info
    if embed is None:
        embed = bool(table.get("embed_validation_info", True))
    return SigningSettings(
        timestamp_url=url,
        timestamp_roots=roots,
        username=settings.timestamp_username or "",
        password=settings.timestamp_password or SecretStr(""),
        embed_validation_info=embed,
    )


def read_signing_table(path: Path) -> dict[str, Any]:
    """The settings file's [signing] table, checked ({} when there is none, or no file)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    table = data.get("signing", {})
    if not isinstance(table, dict):
        raise ConfigurationError(f"{path}: [signing] must be a table")
    unknown = sorted(set(table) - SIGNING_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown setting(s) {', '.join(unknown)} in [signing]; the settings are "
            f"{', '.join(sorted(SIGNING_KEYS))} (credentials only in DIPLOMAS_TIMESTAMP_USERNAME "
            f"and DIPLOMAS_TIMESTAMP_PASSWORD)"
        )
    if not isinstance(table.get("embed_validation_info", True), bool):
        raise ConfigurationError(f"{path}: [signing] embed_validation_info must be true or false")
    return table


# Variables whose values never go into a message, even a refusal of them.
_UNSHOWN = {"key_passphrase", "pkcs11_pin", "timestamp_password", "database_url"}


def load_settings() -> Settings:
    """The settings from the environment; a variable that cannot be read is named, with
    why, in one ConfigurationError (never pydantic's traceback)."""
    try:
        return Settings()
    except SettingsError as exc:
        # pydantic-settings' words for a value it could not decode (JSON for lists)
        raise ConfigurationError(f"a DIPLOMAS_ variable cannot be read: {exc}") from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = "_".join(str(part) for part in error["loc"])
            name = f"DIPLOMAS_{field.upper()}" if field else "the settings"
            shown = "" if field in _UNSHOWN else f" (it is {error['input']!r})"
            problems.append(f"{name}: {error['msg']}{shown}")
        raise ConfigurationError("; ".join(problems)) from None


def is_loopback_url(url: str) -> bool:
    """Whether only this computer reaches `url` (localhost, 127.0.0.0/8, ::1)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


INSTITUTION_KEYS = frozenset(
    {
        "slug",
        "name",
        "name_en",
        "public_url",
        "serial_prefix",
        "signatories",
        "logo",
        "two_person_rule",
        "mail_pdf",
    }
)
SIGNATORY_KEYS = frozenset({"name", "title", "name_en", "title_en"})


def check_public_url(value: object) -> str:
    """A public URL as the settings keep it (no trailing slash); ConfigurationError
    saying what is wrong with it otherwise."""
    url = str(value).strip().rstrip("/")
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigurationError(
            f"public_url {url!r} must be an address like https://diplomas.example.ac.ir"
        )
    if parsed.query or parsed.fragment or parsed.username or parsed.password:
        raise ConfigurationError(
            f"public_url {url!r} must be a plain address, without ?query, #fragment or user"
        )
    host = parsed.hostname
    if not (_HOST_NAME.fullmatch(host) or _is_ip_address(host)):
        raise ConfigurationError(
            f"public_url {url!r}: {host!r} is not a host name (letters, digits, '-' and "
            f"'.', like diplomas.example.ac.ir) nor an IP address"
        )
    try:
        parsed.port  # noqa: B018 - urllib checks the port when it is read
    except ValueError:
        raise ConfigurationError(
            f"public_url {url!r} has a port that is not a number from 1 to 65535"
        ) from None
    if parsed.port == 0 or not all(_PATH_PART.fullmatch(p) for p in parsed.path.split("/")[1:]):
        raise ConfigurationError(
            f"public_url {url!r} must have a port from 1 to 65535 and a path of plain "
            f"words (letters, digits, '-', '_', '.')"
        )
    return url


_HOST_NAME = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
_PATH_PART = re.compile(r"[A-Za-z0-9._~-]+")


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _text_setting(data: dict[str, Any], key: str, where: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{where}{key} must be a text that is not empty")
    return value.strip()


def institution_from(data: dict[str, Any], where: str = "") -> Institution:
    """An institution from its settings-file table; ConfigurationError names the first
    thing wrong (`where` says which table, for a file with several)."""
    unknown = sorted(set(data) - INSTITUTION_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}unknown setting(s) {', '.join(unknown)}; the settings are "
            f"{', '.join(sorted(INSTITUTION_KEYS))}"
        )
    try:
        prefix = str(data["serial_prefix"])
        if not SERIAL_PREFIX.match(prefix):
            raise ConfigurationError(
                f"{where}serial_prefix {prefix!r} must be 2-16 capital letters or digits"
            )
        signatories = data.get("signatories", [])
        if not isinstance(signatories, list):
            raise ConfigurationError(f"{where}signatories must be a list of tables")
        two_person_rule = data.get("two_person_rule")
        if two_person_rule is not None and not isinstance(two_person_rule, bool):
            raise ConfigurationError(f"{where}two_person_rule must be true or false")
        mail_pdf = data.get("mail_pdf", "attach")
        if mail_pdf not in PDF_DELIVERIES:
            raise ConfigurationError(f'{where}mail_pdf must be "attach" or "link"')
        return Institution(
            slug=_text_setting(data, "slug", where),
            name=_text_setting(data, "name", where),
            name_en=_text_setting(data, "name_en", where),
            public_url=check_public_url(data["public_url"]),
            serial_prefix=prefix,
            signatories=tuple(
                _signatory(s, f"{where}signatories[{i}].") for i, s in enumerate(signatories)
            ),
            logo=str(data.get("logo", "")).strip(),
            two_person_rule=two_person_rule,
            mail_pdf=mail_pdf,
        )
    except KeyError as exc:
        raise ConfigurationError(f"{where}the setting {exc.args[0]!r} is missing") from None


def _signatory(raw: object, where: str) -> Signatory:
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where.rstrip('.')} must be a table with name and title")
    unknown = sorted(set(raw) - SIGNATORY_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a signatory has "
            f"{', '.join(sorted(SIGNATORY_KEYS))}"
        )
    try:
        return Signatory(
            _text_setting(raw, "name", where),
            _text_setting(raw, "title", where),
            str(raw.get("name_en", "")),
            str(raw.get("title_en", "")),
        )
    except KeyError as exc:
        raise ConfigurationError(f"{where}{exc.args[0]} is missing") from None


def institutions_from(
    entries: list[dict[str, Any]], source: str, overrides: dict[str, Any] | None = None
) -> list[Institution]:
    """The institutions of settings-file tables, the issuer's with `overrides` applied.

    A co-issuer without a public URL of its own is published on the issuer's site, at
    `{issuer's public URL}/i/{slug}`, and so follows the issuer when it moves."""
    if not all(isinstance(e, dict) for e in entries):
        raise ConfigurationError(f"{source}: each [[institutions]] entry must be a table")
    first = {**entries[0], **(overrides or {})}
    issuer = institution_from(first, f"{source}: the issuer's ")
    institutions = [issuer]
    for index, entry in enumerate(entries[1:], start=2):
        slug = entry.get("slug", "")
        data = {"public_url": f"{issuer.public_url}/i/{slug}", **entry}
        institutions.append(institution_from(data, f"{source}: institution {index}: "))
    slugs = [i.slug for i in institutions]
    if len(set(slugs)) != len(slugs):
        raise ConfigurationError(f"{source} names an institution slug twice")
    dids = [i.did for i in institutions]
    if len(set(dids)) != len(dids):
        raise ConfigurationError(f"{source}: two institutions have the same public URL")
    return institutions


def configured_institutions(
    settings: Settings, entries: list[dict[str, Any]] | None = None
) -> list[Institution]:
    """The institutions as the settings file (or `entries`, tables about to be written to
    it) and the environment describe them now, the environment winning for the issuer;
    their former addresses come from the key stores (`bootstrap.load_institutions`)."""
    path = settings.institution_file
    if entries is None:
        entries = read_institution_entries(path)
    institutions = institutions_from(entries, str(path), settings.institution_overrides())
    # A logo the file names is a file beside it (`diplomas init --logo` copies it there).
    return [
        replace(i, logo=str(settings.home.resolve() / i.logo)) if i.logo else i
        for i in institutions
    ]


SETTINGS_FILE_MODE = 0o644  # read by whoever runs the server; it holds no secret


def write_institutions(path: Path, institutions: list[dict[str, Any]]) -> None:
    header = (
        "# The institutions of this diplomas instance; the first is the default issuer.\n"
        "# public_url is what the QR code points to: set it to the address employers reach.\n"
    )
    # the file's other tables ([signing]) are kept as they are
    try:
        kept = {
            k: v for k, v in tomllib.loads(path.read_text("utf-8")).items() if k != "institutions"
        }
    except (FileNotFoundError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        kept = {}
    text = tomli_w.dumps({"institutions": institutions, **kept})
    write_atomic(path, (header + text).encode("utf-8"), mode=SETTINGS_FILE_MODE)


def read_institution_entries(path: Path) -> list[dict[str, Any]]:
    """The raw [[institutions]] tables of the settings file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            f"{path} does not exist: run `diplomas init` first (or set DIPLOMAS_HOME)"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None
    entries = data.get("institutions")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{path} has no [[institutions]] entry")
    return entries
