"""Settings from the environment (DOSEAPP_*), with defaults that suit a laptop.

Every setting is listed in SETTINGS with its meaning; a test checks that the README documents each
one and that load() reads no other.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

SETTINGS = {
    "DOSEAPP_INSTANCE": "Instance folder: database, received objects, exports, logs (default ./instance).",
    "DOSEAPP_DATABASE_URL": "SQLAlchemy URL; default SQLite in the instance folder. postgresql:// uses psycopg 3.",
    "DOSEAPP_REDIS_URL": "Redis URL; default an embedded redis-server on a socket in the instance folder.",
    "DOSEAPP_SECRET_KEY": "Session signing key; default a random key kept in <instance>/secret_key.",
    "DOSEAPP_HOST": "Web server address (default 127.0.0.1).",
    "DOSEAPP_PORT": "Web server port (default 8000).",
    "DOSEAPP_WEB_THREADS": "Web server threads (default 8).",
    "DOSEAPP_WORKERS": "RQ workers that `doseapp run` starts (default 2).",
    "DOSEAPP_QUEUE_PREFIX": "Prefix for RQ queue names, to share one Redis between instances (default none).",
    "DOSEAPP_COOKIE_SECURE": "Send the session cookie over HTTPS only: 1 behind TLS (default 0).",
    "DOSEAPP_LOG_LEVEL": "Log level for every process (default INFO).",
    "DOSEAPP_BASE_URL": "The address users open doseapp at, for links in e-mails (default http://HOST:PORT).",
    "DOSEAPP_TIMEZONE": "Time zone (IANA name, e.g. Europe/London) that pages show recorded times in (default the "
                        "machine's zone, else UTC); study times are shown as the modality sent them.",
    "DOSEAPP_LANGUAGE": "Language of pages for users who chose none (de, en, es, fr, it, nb, nl; default unset: "
                        "each browser's preferred language among these, else English).",
    "DOSEAPP_XLSX_DATE_FORMAT": "Excel number format for dates in XLSX exports (default dd/mm/yyyy, as OpenREM).",
    "DOSEAPP_JOB_HISTORY_DAYS": "Days the job list keeps finished and cancelled jobs (default 30; failed jobs are kept).",
    "DOSEAPP_MAX_UPLOAD_MB": "Largest file a logged-in user may upload, in MB (the patient size CSV; default 50). Requests of users not logged in are limited to 64 KB.",
    "DOSEAPP_LOGIN_FAILURES_PER_NAME": "Failed logins in 15 minutes after which a user name is refused (default 5; 0 = no limit).",
    "DOSEAPP_LOGIN_FAILURES_PER_ADDRESS": "Failed logins in 15 minutes after which an address is refused (default 30; 0 = no limit).",
    "DOSEAPP_JOB_HEARTBEAT_SECONDS": "Seconds between a worker's signs of life while it runs a job (default 30); "
                                     "the job of a worker silent for three is queued again.",
    "DOSEAPP_JAVA": "Java command that runs PixelMed's dose OCR for Toshiba CT dose screens (default java).",
    "DOSEAPP_PIXELMED_JAR": "PixelMed jar for the Toshiba dose OCR (default the Debian libpixelmed-java jar, "
                            "/usr/share/java/pixelmed.jar).",
    "DOSEAPP_TOSHIBA_TIMEOUT": "Seconds PixelMed may take to read one Toshiba dose screen before the study is "
                               "quarantined (default 120).",
    "DOSEAPP_TOSHIBA_SETTLE_SECONDS": "Seconds with no new object for a Toshiba study (dose screen + images) "
                                      "before its dose record is built (default 60).",
}

DEBIAN_PIXELMED_JARS = ("/usr/share/java/pixelmed.jar",)


def pixelmed_jar(env) -> str:
    """The PixelMed jar: DOSEAPP_PIXELMED_JAR, else the Debian package's, else any versioned one there."""
    if env.get("DOSEAPP_PIXELMED_JAR"):
        return env["DOSEAPP_PIXELMED_JAR"]
    for candidate in DEBIAN_PIXELMED_JARS:
        if Path(candidate).exists():
            return candidate
    versioned = sorted(Path("/usr/share/java").glob("pixelmed-*.jar"))
    return str(versioned[-1]) if versioned else DEBIAN_PIXELMED_JARS[0]


def _instance_dir(env) -> Path:
    return Path(env.get("DOSEAPP_INSTANCE") or (Path.cwd() / "instance")).resolve()


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs given without a driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def instance_paths(instance: Path) -> dict[str, Path]:
    """The instance folder's parts; prepare_instance() creates them."""
    return {
        "instance": instance,
        "spool": instance / "spool",          # objects being received, before import
        "objects": instance / "objects",      # received objects kept by the delete policy
        "quarantine": instance / "quarantine",
        "exports": instance / "exports",
        "logs": instance / "logs",
        "redis": instance / "redis",
        "toshiba_held": instance / "toshiba_held",  # Toshiba CT dose screens + images, until the study settles
    }


def prepare_instance(instance: Path) -> None:
    for path in instance_paths(instance).values():
        path.mkdir(parents=True, exist_ok=True)


def _secret_key(instance: Path) -> str:
    """The instance's session-signing key, made on first use. Processes starting together (`doseapp
    run` starts several) must all end up with the same key: each writes a whole key to a file of its
    own and links it into place; the first link wins and the others read the winner's key (a key
    file is never seen half-written)."""
    key_file = instance / "secret_key"
    if not key_file.exists():
        instance.mkdir(parents=True, exist_ok=True)
        mine = instance / f".secret_key-{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(mine, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
            os.link(mine, key_file)
        except FileExistsError:
            pass  # another process made it first
        finally:
            mine.unlink(missing_ok=True)
    return key_file.read_text().strip()


def load(env=None, **overrides) -> dict:
    """Build the Flask config mapping from the environment plus explicit overrides."""
    from doseapp.display.timefmt import check_zone_name
    from doseapp.display.i18n import check_language
    from doseapp.security.request_limits import limits

    env = dict(os.environ if env is None else env)
    instance = Path(overrides.pop("INSTANCE", None) or _instance_dir(env))
    prepare_instance(instance)
    db_url = env.get("DOSEAPP_DATABASE_URL") or f"sqlite:///{instance / 'doseapp.db'}"
    cfg = {
        "INSTANCE": instance,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(db_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": env.get("DOSEAPP_REDIS_URL") or None,  # None: embedded
        "SECRET_KEY": env.get("DOSEAPP_SECRET_KEY") or _secret_key(instance),
        "HOST": env.get("DOSEAPP_HOST", "127.0.0.1"),
        "PORT": int(env.get("DOSEAPP_PORT", "8000")),
        "WEB_THREADS": int(env.get("DOSEAPP_WEB_THREADS", "8")),
        "BASE_URL": env.get("DOSEAPP_BASE_URL") or None,  # None: http://HOST:PORT, below
        "WORKERS": int(env.get("DOSEAPP_WORKERS", "2")),
        "QUEUE_PREFIX": env.get("DOSEAPP_QUEUE_PREFIX", ""),
        "LOG_LEVEL": env.get("DOSEAPP_LOG_LEVEL", "INFO").upper(),
        "TIMEZONE": check_zone_name(env.get("DOSEAPP_TIMEZONE")),
        "LANGUAGE": check_language(env.get("DOSEAPP_LANGUAGE")),
        "XLSX_DATE_FORMAT": env.get("DOSEAPP_XLSX_DATE_FORMAT") or "dd/mm/yyyy",
        "JOB_HISTORY_DAYS": int(env.get("DOSEAPP_JOB_HISTORY_DAYS", "30")),
        **limits(int(env.get("DOSEAPP_MAX_UPLOAD_MB", "50"))),
        "LOGIN_FAILURES_PER_NAME": int(env.get("DOSEAPP_LOGIN_FAILURES_PER_NAME", "5")),
        "LOGIN_FAILURES_PER_ADDRESS": int(env.get("DOSEAPP_LOGIN_FAILURES_PER_ADDRESS", "30")),
        "JOB_HEARTBEAT_SECONDS": max(1, int(env.get("DOSEAPP_JOB_HEARTBEAT_SECONDS", "30"))),
        "JAVA": env.get("DOSEAPP_JAVA") or "java",
        "PIXELMED_JAR": pixelmed_jar(env),
        "TOSHIBA_TIMEOUT": float(env.get("DOSEAPP_TOSHIBA_TIMEOUT", "120")),
        "TOSHIBA_SETTLE_SECONDS": float(env.get("DOSEAPP_TOSHIBA_SETTLE_SECONDS", "60")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("DOSEAPP_COOKIE_SECURE", "0") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,  # token lives as long as the session
        "MIGRATIONS_DIR": str(REPO_ROOT / "migrations"),
    }
    if cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite locks the whole file; waiting beats failing when web and worker write together.
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 30}}
    cfg.update(overrides)
    cfg["BASE_URL"] = cfg["BASE_URL"] or f"http://{cfg['HOST']}:{cfg['PORT']}"
    cfg["TIMEZONE"] = check_zone_name(cfg["TIMEZONE"])  # an override is checked as the setting is
    cfg["LANGUAGE"] = check_language(cfg["LANGUAGE"])
    return cfg
