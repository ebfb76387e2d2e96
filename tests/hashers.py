from django.contrib.auth.hashers import Argon2PasswordHasher


class CheapArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 still (same algorithm and encoding), with the smallest cost, so the suite's many
    logins take milliseconds instead of seconds. Production keeps Django's default costs."""

    time_cost = 1
    memory_cost = 8
    parallelism = 1
