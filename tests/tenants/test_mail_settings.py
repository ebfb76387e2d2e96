"""Mail configuration (SPEC §14): EMAIL_URL becomes Django 6.1's default mailer."""

from tests.portal.test_settings import load_settings, production


def mailer(settings):
    return settings["MAILERS"]["default"]


def test_the_demo_prints_mail_on_the_console():
    settings = load_settings(DEBUG="true")
    assert mailer(settings) == {
        "BACKEND": "django.core.mail.backends.console.EmailBackend",
        "OPTIONS": {},
    }
    assert "EMAIL_BACKEND" not in settings  # the deprecated EMAIL_* settings are not used


def test_production_sends_through_the_smtp_server_of_email_url():
    settings = production(
        EMAIL_URL="smtp+tls://mailer:s3cret@smtp.example.com:587",
        DEFAULT_FROM_EMAIL="Tessera <tessera@example.com>",
    )
    assert mailer(settings) == {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {
            "host": "smtp.example.com",
            "port": 587,
            "username": "mailer",
            "password": "s3cret",
            "use_tls": True,
            "timeout": 10,
        },
    }
    assert settings["DEFAULT_FROM_EMAIL"] == "Tessera <tessera@example.com>"


def test_production_defaults_to_a_local_smtp_server():
    options = mailer(production())["OPTIONS"]
    assert (options["host"], options["port"]) == ("localhost", 25)
