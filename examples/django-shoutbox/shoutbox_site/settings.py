"""Settings of the shoutbox example. What a deployment or a test changes comes from the
environment:

  PERIGEE_URL            where browsers and Django reach Perigee (default http://127.0.0.1:9000)
  PERIGEE_API_KEY        the secret of the `django` API key in Perigee's configuration
  PERIGEE_HOOK_ADDRESSES comma-separated client addresses allowed to call the hooks
                         (default 127.0.0.1,::1: Perigee on the same machine)
  SHOUTBOX_DB            the SQLite file (default db.sqlite3 beside manage.py)
  DJANGO_SECRET_KEY, DJANGO_DEBUG (1/0), DJANGO_ALLOWED_HOSTS (comma-separated)
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _list(name, default):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Demo values: a real deployment sets both secrets in the environment.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-shoutbox-demo-only")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = _list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

PERIGEE_URL = os.environ.get("PERIGEE_URL", "http://127.0.0.1:9000").rstrip("/")
# Must equal api_keys.django in perigee.yaml.
PERIGEE_API_KEY = os.environ.get("PERIGEE_API_KEY", "shoutbox-demo-api-key-change-me")
PERIGEE_HOOK_ADDRESSES = frozenset(_list("PERIGEE_HOOK_ADDRESSES", "127.0.0.1,::1"))

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "shouts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shoutbox_site.urls"
WSGI_APPLICATION = "shoutbox_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOUTBOX_DB", str(BASE_DIR / "db.sqlite3")),
    }
}

# The session cookie reaches Perigee too: browsers send cookies by host name, whatever the
# port, so the WebSocket handshake to 127.0.0.1:9000 carries the sessionid set by
# 127.0.0.1:8000, and Perigee hands it to the connect hook. It stays HttpOnly: page scripts
# never need to read it. SameSite=Lax still sends it, as the two ports are the same site.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "shoutbox"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = []  # the demo users have demo passwords

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
