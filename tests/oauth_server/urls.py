"""The authorization server's routes: django-oauth-toolkit under /o/ (token, revoke_token,
introspect, and the OIDC discovery document and JWKS)."""

from django.urls import include, path

urlpatterns = [path("o/", include("oauth2_provider.urls", namespace="oauth2_provider"))]
