"""Settings for the command center: every value comes from the environment.

With nothing set, the project runs on the embedded default: SQLite and a filesystem broker
under DATA_DIR, so a fresh machine needs no servers. DATABASE_URL (postgres://...) and
BROKER_URL (redis://...) switch to PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from commandcenter.lib.env import env_bool, env_float, env_int, env_list, env_networks, env_str

# What the server writes (the database, its keys, the admin password, uploads, outputs, work
# dirs, the embedded broker's messages) is for the server's user alone: files 0600, folders
# 0700. Set here, as every server process (manage.py, wsgi, the Celery worker) reads settings
# before it writes anything.
os.umask(0o077)


def _private_dir(path: Path) -> Path:
    """PATH, made if need be, that only its owner may enter (a folder an older version made
    open is closed too)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_uid == os.geteuid():
        path.chmod(0o700)
    return path


BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = _private_dir(Path(env_str("DATA_DIR", str(BASE_DIR / ".data"))).resolve())


def _generated_once(path: Path, make: Callable[[], str]) -> str:
    """The secret kept in PATH, made by MAKE (mode 0600) the first time. Two processes that
    start at once both end up with the first one's: it is linked into place, never replaced."""
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(make())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in DATA_DIR."""
    return env_str("SECRET_KEY") or _generated_once(
        DATA_DIR / "secret_key", lambda: secrets.token_urlsafe(50)
    )


def _field_encryption_keys() -> list[str]:
    """FIELD_ENCRYPTION_KEY: Fernet keys, comma separated; the first encrypts, all decrypt.
    Else one generated once and kept in DATA_DIR (enough for one machine)."""
    raw = env_str("FIELD_ENCRYPTION_KEY") or _generated_once(
        DATA_DIR / "field_encryption_key", lambda: Fernet.generate_key().decode()
    )
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY holds no key.")
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEY: key {number} of {len(keys)} is not a Fernet key (44 "
                "characters of URL-safe base64; see README, Security)."
            ) from None
    return keys


SECRET_KEY = _secret_key()
# Connection secrets are encrypted with these (commandcenter/lib/encryption.py).
FIELD_ENCRYPTION_KEYS = _field_encryption_keys()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_NAME = env_str("SITE_NAME", "Command Center")
# The address in mails (process approvals and notifications), e.g. https://cc.example.org.
SITE_URL = env_str("SITE_URL", "").rstrip("/")

# --- Mail (MLC process approvals and notify steps) ----------------------------------------
# With EMAIL_HOST set, mail goes out by SMTP; without it, it is written to the worker's log.
EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = 20
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "command-center@localhost")
# Significant digits of the numbers pages show (metrics tiles, tables, plot titles).
NUMBER_DIGITS = min(env_int("NUMBER_DIGITS", 4, minimum=1), 15)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "commandcenter.apps.CommandCenterConfig",
    "models_registry",
    "jobs",
    "dryruns",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "processes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the session and login middleware: a database away is a 503, never a 500.
    "commandcenter.lib.outage.DatabaseOutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "commandcenter.lib.sessions.AuthenticationMiddleware",  # Django's, user read with session
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "commandcenter.urls"
WSGI_APPLICATION = "commandcenter.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "commandcenter.context_processors.site",
                "processes.context_processors.approvals",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
# SQLite in WAL mode with IMMEDIATE transactions, so the web server and the worker can
# write at the same time without "database is locked" errors.
_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 30,
}
if DATABASE_URL and not DATABASE_URL.startswith("sqlite:"):
    # Connections are kept for a minute; the first use of one in each request checks it is
    # still alive (CONN_HEALTH_CHECKS), so one the server dropped (a restart, a pooler's idle
    # timeout, pg_terminate_backend) is replaced, not answered with an error.
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
    # A server that does not answer at all (its host gone, packets dropped) fails a request in
    # seconds, not in the minutes TCP takes to give up. A connect_timeout in the URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 10)
    # Server-side prepared statements: PostgreSQL plans a query the fifth time a connection
    # runs it, and then never again. The pages people poll ask the same questions every
    # second, and planning them (the visibility rule's joins) took 2-4 ms each, three times
    # what running them takes. Off for a pooler in transaction mode (PgBouncer), which cannot
    # keep a connection's prepared statements: DATABASE_PREPARED_STATEMENTS=false.
    if env_bool("DATABASE_PREPARED_STATEMENTS", True):
        DATABASES["default"]["OPTIONS"].setdefault("server_side_binding", True)
        DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 5)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": (
                dj_database_url.parse(DATABASE_URL)["NAME"]
                if DATABASE_URL
                else DATA_DIR / "db.sqlite3"
            ),
            "OPTIONS": _SQLITE_OPTIONS,
            # Each web thread keeps its connection for a minute, as on PostgreSQL: opening
            # one for every request (the file, the PRAGMAs, Django's SQL functions) was half
            # of /healthz's time under wrk (430 requests/s on 2 cores; 937 with kept ones).
            "CONN_MAX_AGE": 60,
            # A file, not memory, so that a worker process started by the tests shares it.
            "TEST": {"NAME": str(DATA_DIR / "test-db.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ---------------------------------------------------------------------------------
BROKER_URL = env_str("BROKER_URL")
EMBEDDED_BROKER_DIR = DATA_DIR / "broker"
if BROKER_URL:
    CELERY_BROKER_URL = BROKER_URL
    # Jobs can run for hours; Redis must not redeliver them meanwhile. A redelivered message
    # cannot run a job twice anyway: the claim is a guarded update in the database.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 12 * 3600,
        # A Redis that accepts connections but does not answer (hung, failed over, a firewall
        # dropping a half-open connection) holds a job submit for seconds, not forever: the
        # job then waits for the reconciler to send it (kombu waits forever by default).
        "socket_connect_timeout": 3,
        "socket_timeout": 5,  # above kombu's 1 s BRPOP, so a consumer's wait is no timeout
    }
else:
    for sub in ("queue", "processed", "control", "tmp"):
        _private_dir(EMBEDDED_BROKER_DIR / sub)
    _private_dir(EMBEDDED_BROKER_DIR)
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT = "commandcenter.lib.fsbroker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(EMBEDDED_BROKER_DIR / "queue"),
        "data_folder_out": str(EMBEDDED_BROKER_DIR / "queue"),
        "control_folder": str(EMBEDDED_BROKER_DIR / "control"),
        "processed_folder": str(EMBEDDED_BROKER_DIR / "processed"),
        "store_processed": False,
        # Job pickup latency is bounded by this poll interval.
        "polling_interval": env_float("EMBEDDED_BROKER_POLL_SECONDS", 0.05),
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- Files ----------------------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"  # only collectstatic writes here; whitenoise uses finders
_private_dir(STATIC_ROOT)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Uploads, attachments and outputs in S3 (or MinIO, ...) instead of MEDIA_ROOT: then worker
# machines need no shared disk. Without keys, boto3's own chain (instance role, ...) is used.
STORAGE_S3_BUCKET = env_str("STORAGE_S3_BUCKET")
if STORAGE_S3_BUCKET:
    STORAGE_S3_ENDPOINT_URL = env_str("STORAGE_S3_ENDPOINT_URL")
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": STORAGE_S3_BUCKET,
            "endpoint_url": STORAGE_S3_ENDPOINT_URL or None,
            "region_name": env_str("STORAGE_S3_REGION") or None,
            "access_key": env_str("STORAGE_S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("STORAGE_S3_SECRET_ACCESS_KEY") or None,
            "addressing_style": "path" if STORAGE_S3_ENDPOINT_URL else None,
            "signature_version": "s3v4",
            "file_overwrite": False,  # a second upload of data.csv gets a new name
        },
    }
WHITENOISE_USE_FINDERS = True
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Django makes stored files 0644 and folders as the umask says unless told otherwise.
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
# Uploads are bounded while they stream in (commandcenter/lib/uploads.py), into a temporary
# folder of our own, so that what a killed process left behind can be swept (upload_sweep).
FILE_UPLOAD_HANDLERS = [
    "commandcenter.lib.uploads.BoundedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_TEMP_DIR = DATA_DIR / "tmp" / "uploads"
FILE_UPLOAD_TEMP_DIR.mkdir(parents=True, exist_ok=True)
# A model's attachments: each one, and all of a snapshot's together (they are copied into
# every new version and every job's work dir).
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 512 * 1024 * 1024, minimum=1)
SNAPSHOT_ATTACHMENTS_MAX_BYTES = env_int(
    "SNAPSHOT_ATTACHMENTS_MAX_BYTES", 2 * 1024 * 1024 * 1024, minimum=1
)

# --- Jobs -----------------------------------------------------------------------------------
JOB_WORK_DIR = Path(env_str("JOB_WORK_DIR", str(DATA_DIR / "work")))
for _folder in (MEDIA_ROOT, JOB_WORK_DIR, DATA_DIR / "tmp"):
    if _folder.is_relative_to(DATA_DIR):  # folders given elsewhere are the operator's to set
        _private_dir(_folder)
JOB_CHUNK_ROWS = env_int("JOB_CHUNK_ROWS", 10_000, minimum=1)
# Input bytes per DataFrame in batch and recordsets modes (and for metrics and training); 0:
# JOB_CHUNK_ROWS rows instead.
JOB_CHUNK_BYTES = env_int("JOB_CHUNK_BYTES", 1024 * 1024, minimum=0)
JOB_PROGRESS_SECONDS = env_float("JOB_PROGRESS_SECONDS", 0.5)
# Workers beat every HEARTBEAT_SECONDS; a worker is "stale" after WORKER_STALE_SECONDS without
# a beat and "offline" after WORKER_OFFLINE_SECONDS (then its running jobs are started again).
HEARTBEAT_SECONDS = env_float("HEARTBEAT_SECONDS", 5.0)
WORKER_STALE_SECONDS = env_float("WORKER_STALE_SECONDS", 15.0)
WORKER_OFFLINE_SECONDS = env_float("WORKER_OFFLINE_SECONDS", 30.0)
# Every worker runs the reconciler (jobs/reconciler.py) every RECONCILE_SECONDS: it sends a
# WAITING job's message again when none was sent RECONCILE_RESEND_SECONDS ago and the queue
# holds fewer messages than waiting jobs, and starts again the RUNNING jobs of lost workers.
RECONCILE_SECONDS = env_float("RECONCILE_SECONDS", 10.0)
RECONCILE_RESEND_SECONDS = env_float("RECONCILE_RESEND_SECONDS", 30.0)
# Every worker advances MLC process runs and polls their triggers this often (processes/loop.py).
PROCESSES_TICK_SECONDS = env_float("PROCESSES_TICK_SECONDS", 2.0)
# An S3-prefix or HDFS-folder trigger lists its objects, a SQL trigger runs its query, at most
# this often (PROCESSES_S3_POLL_SECONDS, its name before HDFS and SQL triggers, still counts).
PROCESSES_POLL_SECONDS = env_float(
    "PROCESSES_POLL_SECONDS", env_float("PROCESSES_S3_POLL_SECONDS", 60.0)
)
# A notify step's webhook may reach loopback, private, link-local and reserved addresses (an
# intranet's chat server); off, they are refused when the process is saved and when it sends.
PROCESS_WEBHOOK_ALLOW_PRIVATE = env_bool("PROCESS_WEBHOOK_ALLOW_PRIVATE", False)
# A worker's guarded updates wait this long for a database that does not answer (a restart, a
# fail-over), retrying with backoff; then the job is left to the reconciler to take back.
DB_RETRY_SECONDS = env_float("DB_RETRY_SECONDS", 120.0)
# A running model's keeper ends it when its worker has not renewed its lease for this long (the
# worker is paused: jobs/worker/lease.py), well before the job can be taken back: by default
# half of WORKER_OFFLINE_SECONDS less one heartbeat.
MODEL_LEASE_SECONDS = env_float(
    "MODEL_LEASE_SECONDS", max(1.0, (WORKER_OFFLINE_SECONDS - HEARTBEAT_SECONDS) / 2)
)
if not 0 < MODEL_LEASE_SECONDS < WORKER_OFFLINE_SECONDS - HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(
        f"MODEL_LEASE_SECONDS={MODEL_LEASE_SECONDS:g} must be above 0 and below "
        f"WORKER_OFFLINE_SECONDS - HEARTBEAT_SECONDS ({WORKER_OFFLINE_SECONDS:g} - "
        f"{HEARTBEAT_SECONDS:g}): a model must end before its job can be taken back"
    )
JOB_LOG_TAIL_BYTES = env_int("JOB_LOG_TAIL_BYTES", 64 * 1024, minimum=1024)
# A dry run ("Try on the first 100 records", moc job create --dry-run): how many records of
# each input the model gets, how long it may run, and how long its result is kept.
DRY_RUN_RECORDS = env_int("DRY_RUN_RECORDS", 100, minimum=1)
DRY_RUN_SECONDS = env_int("DRY_RUN_SECONDS", 60, minimum=1)
DRY_RUN_KEEP_SECONDS = env_int("DRY_RUN_KEEP_SECONDS", 3600, minimum=60)
# Model environments (jobs/worker/envs.py): a snapshot with a requirements.txt runs in an
# environment built for it with uv under MODEL_ENV_DIR, once per machine, keyed by the
# requirements' hash; a build that takes longer than ENV_BUILD_TIMEOUT_SECONDS fails its job.
MODEL_ENV_DIR = Path(env_str("MODEL_ENV_DIR", str(DATA_DIR / "envs")))
# The Spark drivers' class archive, made once per machine (jobs/worker/sparkclasses.py).
SPARK_CLASS_ARCHIVE_DIR = Path(env_str("SPARK_CLASS_ARCHIVE_DIR", str(DATA_DIR / "spark-classes")))
ENV_BUILD_TIMEOUT_SECONDS = env_float("ENV_BUILD_TIMEOUT_SECONDS", 900.0)
# The model process sandbox (jobs/runner/sandbox.py): "auto" sandboxes where the kernel has
# Landlock and warns where it has not; "required" makes a worker that cannot sandbox refuse to
# start; "off" runs model code unrestricted (warned). A worker running as root also makes the
# model process MODEL_SANDBOX_USER. MODEL_SANDBOX_READ_ONLY adds folders a model may read.
MODEL_SANDBOX = env_str("MODEL_SANDBOX", "auto").lower()
if MODEL_SANDBOX not in ("auto", "required", "off"):
    raise ImproperlyConfigured(
        f"MODEL_SANDBOX must be auto, required or off, not {MODEL_SANDBOX!r}"
    )
MODEL_SANDBOX_USER = env_str("MODEL_SANDBOX_USER", "nobody")
MODEL_SANDBOX_READ_ONLY = env_list("MODEL_SANDBOX_READ_ONLY", [])
# Folders every model may write beside its work dir (a shared scratch folder; the tests' drop
# box for what their models report). Whatever is there, every job's model can read and change.
MODEL_SANDBOX_READ_WRITE = env_list("MODEL_SANDBOX_READ_WRITE", [])
# Processes a model may run at once (beyond them, the job ends in ERROR), and the address space
# of a model process on a runtime without a memory limit (default: the machine's memory + 4 GB).
MODEL_MAX_PROCESSES = env_int("MODEL_MAX_PROCESSES", 64, minimum=1)
MODEL_ADDRESS_SPACE_BYTES = (
    env_int(
        "MODEL_ADDRESS_SPACE_MB",
        os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20 + 4096,
        minimum=0,
    )
    * 2**20
) or None
EMBEDDED_INPUT_MAX_BYTES = env_int("EMBEDDED_INPUT_MAX_BYTES", 1024 * 1024, minimum=1)
UPLOAD_MAX_BYTES = env_int("UPLOAD_MAX_BYTES", 5 * 1024 * 1024 * 1024, minimum=1)
# An uploaded input that no job uses is deleted this many hours after it was uploaded.
UPLOAD_UNUSED_HOURS = env_int("UPLOAD_UNUSED_HOURS", 24, minimum=1)
# An S3 prefix holds at most this many objects to be read (all are listed, and held in memory,
# before a job reads them); the web process lists one for its size for at most the seconds.
S3_PREFIX_MAX_OBJECTS = env_int("S3_PREFIX_MAX_OBJECTS", 10_000, minimum=1)
S3_LIST_TIMEOUT_SECONDS = env_float("S3_LIST_TIMEOUT_SECONDS", 10.0)
# What a metrics job keeps with the job (Job.metrics, as JSON); larger results are trimmed
# (jobs/metrics_size.py) and only the job's output file has them whole.
METRICS_MAX_BYTES = env_int("METRICS_MAX_BYTES", 2 * 1024 * 1024, minimum=64 * 1024)

# --- Auth and the rest ------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "jobs-list"
LOGOUT_REDIRECT_URL = "login"
# Sessions, cookies, security headers and login limits: see "Audit trail and security" below.

# --- REST API (/api/) -------------------------------------------------------------------------
# An API token (Authorization: Token <key>) stops working this many days after it was issued.
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 30, minimum=1)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.ExpiringTokenAuthentication",  # first: 401s name the Token scheme
        "rest_framework.authentication.SessionAuthentication",  # the browsable API and docs
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Command Center API",
    "DESCRIPTION": "Models, snapshots, runtimes and batch jobs. Log in with POST /api/auth/token/ "
    "and send the token as the header `Authorization: Token <key>`.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",  # null is a type: "nothing yet" fields validate as documented
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,  # file fields show as binary in multipart requests
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this site: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.JobStatus",
        "JobTypeEnum": "jobs.models.JobType",
        "AssetKindEnum": "jobs.models.JobAsset.Kind",
        "AssetFormatEnum": "jobs.models.AssetFormat",
        "WriteModeEnum": "jobs.models.JobAsset.WriteMode",
        "HealthEnum": "api.serializers.infra.HEALTH_STATES",
        "TriggerKindEnum": "processes.models.Trigger.Kind",
        "ProcessRunStatusEnum": "processes.models.RunStatus",
        "RunStepStatusEnum": "processes.models.StepStatus",
        "ProcessTemplateEnum": "processes.models.Template",
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Audit trail and security ----------------------------------------------------------------
# Production (DEBUG off and SECRET_KEY given in the environment) is served over HTTPS: then
# `manage.py check --deploy` is clean. HTTPS=false serves plain http (the local quick start,
# which sets no SECRET_KEY, does so by default); each setting below can also be set alone.
HTTPS = env_bool("HTTPS", not DEBUG and bool(env_str("SECRET_KEY")))
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
# Load balancers probe /healthz over plain http from inside the network; it holds no secret.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", env_bool("SECURE_COOKIES", HTTPS))
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", SESSION_COOKIE_SECURE)
# Behind a proxy that ends TLS and sets X-Forwarded-Proto (else every request looks like http).
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# A session ends SESSION_COOKIE_AGE seconds after log-in (default 12 hours), or when the
# browser closes with SESSION_EXPIRE_AT_BROWSER_CLOSE=true.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", False)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Django's database sessions, each read by a prepared query (commandcenter/lib/sessions.py).
SESSION_ENGINE = "commandcenter.lib.sessions"

# Content-Security-Policy (django-csp): scripts, styles, fonts and images from this site only;
# no inline scripts or styles anywhere. The API's Swagger page runs its own inline script.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Login rate limiting (django-axes): LOGIN_FAILURE_LIMIT failed log-ins for one user name from
# one address lock that pair out for LOGIN_LOCKOUT_MINUTES; the login page, the admin's and
# the API's token endpoint all count. A success resets the count.
AXES_ENABLED = env_bool("LOGIN_RATE_LIMIT", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # lockouts go into the audit trail (login.locked)
LOGGING.setdefault("loggers", {})["axes"] = {"level": "WARNING"}  # not every log-in
AXES_CLIENT_IP_CALLABLE = "audit.context.client_ip"
# Reverse proxies (addresses or networks) whose X-Forwarded-For is believed: behind them, the
# client is the right-most address in it that is not theirs (audit/context.py). Without any,
# the header is ignored, as any client can write it.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
AXES_LOCKOUT_CALLABLE = "audit.lockout.lockout_response"
AUTHENTICATION_BACKENDS = [
    "audit.backends.LoginRateLimitBackend",  # first: refuses locked-out log-ins
    # Django's ModelBackend, whose user of a session is read by a prepared query.
    "audit.backends.UserBackend",
]

INSTALLED_APPS += ["audit", "axes", "csp"]
# After the session and auth middleware: records made during a request carry its address.
# CSP before axes, so a lockout page gets the header too; axes last, as it asks.
MIDDLEWARE += [
    "audit.context.AuditContextMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]
