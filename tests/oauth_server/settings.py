"""A minimal Django project serving django-oauth-toolkit as a real OAuth2 / OIDC authorization server
for edgeguard's integration tests (tests/common/oauth_server.rs starts it through serve.py).

Everything comes from the environment serve.py is started with:
  EG_OAUTH_DB       path of the SQLite database (a fresh temp dir per run)
  EG_OAUTH_ISSUER   the OIDC issuer (optional; default: built from the request)
OIDC is enabled with an RSA key generated at start (discovery at /o/.well-known/openid-configuration,
JWKS at /o/.well-known/jwks.json), so a discovery test can use the same server.
"""

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SECRET_KEY = "edgeguard-tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]
MIDDLEWARE = []
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EG_OAUTH_DB", "/tmp/edgeguard-oauth.sqlite3"),
        "OPTIONS": {"timeout": 20},
    }
}
# Fast password hashing: the test users' passwords are test data.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OAUTH2_PROVIDER = {
    "SCOPES": {
        "read": "read",
        "write": "write",
        "admin": "admin",
        "openid": "OpenID Connect",
        "introspection": "introspect tokens",
    },
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode(),
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"],
}
if os.environ.get("EG_OAUTH_ISSUER"):
    OAUTH2_PROVIDER["OIDC_ISS_ENDPOINT"] = os.environ["EG_OAUTH_ISSUER"]

LOGGING = {
    "version": 1,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
