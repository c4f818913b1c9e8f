from django.apps import AppConfig


class ShoutsConfig(AppConfig):
    name = "shouts"
    default_auto_field = "django.db.models.BigAutoField"
