from django.apps import AppConfig


class ElevationConfig(AppConfig):
    name = "elevation"
    default_auto_field = "django.db.models.BigAutoField"
