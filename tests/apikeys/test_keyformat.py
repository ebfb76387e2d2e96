"""The key format (SPEC §3): type prefix, public id, ≥192-bit secret, CRC32 checksum; and the
stored digest: HMAC-SHA256 under a versioned pepper that is not SECRET_KEY."""

import hashlib
import hmac
import zlib

import pytest
from django.conf import settings
from django.test import override_settings

from access import keyformat
from tests.conftest import ApiClient, mint_admin_key


@pytest.fixture
def peppers():
    """Swap the configured peppers for one test (they are cached)."""

    def use(*values):
        ctx = override_settings(API_KEY_PEPPERS=list(values))
        ctx.enable()
        keyformat.reset_pepper_cache()
        applied.append(ctx)

    applied = []
    yield use
    for ctx in reversed(applied):
        ctx.disable()
    keyformat.reset_pepper_cache()


@pytest.mark.parametrize("kind,prefix", [("admin", "lmk_"), ("agent", "sk_agent_live_")])
def test_generated_keys_have_the_documented_shape(kind, prefix):
    parsed = keyformat.generate(kind)
    full = parsed.full
    assert full.startswith(prefix)
    body = full[len(prefix) :]
    assert len(body) == keyformat.PUBLIC_ID_LEN + keyformat.SECRET_LEN + keyformat.CHECKSUM_LEN
    assert parsed.public_id == body[: keyformat.PUBLIC_ID_LEN]
    assert parsed.prefix == prefix + parsed.public_id
    assert body.isalnum() and body.isascii()
    # The checksum is CRC32 of everything before it.
    check = full[-keyformat.CHECKSUM_LEN :]
    assert check == keyformat._base62(zlib.crc32(full[: -keyformat.CHECKSUM_LEN].encode()), 6)
    assert keyformat.parse(full) == parsed


def test_the_secret_part_carries_at_least_192_bits():
    assert 62**keyformat.SECRET_LEN >= 2**192
    secrets = {keyformat.generate("admin").full for _ in range(200)}
    assert len(secrets) == 200
    ids = {keyformat.parse(s).public_id for s in secrets}
    assert len(ids) == 200


def test_any_single_character_typo_is_caught_by_the_checksum():
    full = keyformat.generate("admin").full
    for i in range(len("lmk_"), len(full)):
        for replacement in "0aZ":
            if full[i] == replacement:
                continue
            typo = full[:i] + replacement + full[i + 1 :]
            assert keyformat.parse(typo) is None, i


@pytest.mark.parametrize(
    "raw",
    [
        None,
        42,
        "",
        "lmk_",
        "lmk_short",
        "xyz_" + "A" * 61,
        "LMK_" + "A" * 61,
        " lmk_" + "A" * 61,
        "sk_agent_test_" + "A" * 61,
        "lmk_" + "A" * 60 + "-",
        "lmk_" + "A" * 500,
    ],
)
def test_malformed_strings_do_not_parse(raw):
    assert keyformat.parse(raw) is None


def test_truncated_or_extended_keys_do_not_parse():
    full = keyformat.generate("agent").full
    assert keyformat.parse(full[:-1]) is None
    assert keyformat.parse(full + "0") is None
    assert keyformat.parse(full + "\n") is None


def test_the_digest_is_an_hmac_under_the_pepper_not_the_secret_key():
    full = keyformat.generate("admin").full
    pepper_id, digest = keyformat.digest(full)
    pepper = settings.API_KEY_PEPPERS[0].encode()
    assert digest == hmac.new(pepper, full.encode(), hashlib.sha256).hexdigest()
    assert digest != hmac.new(settings.SECRET_KEY.encode(), full.encode(), "sha256").hexdigest()
    assert digest != hashlib.sha256(full.encode()).hexdigest()
    assert pepper_id not in settings.API_KEY_PEPPERS[0]
    assert keyformat.matches(full, pepper_id, digest)
    tampered = full[:-1] + ("x" if full[-1] != "x" else "y")
    assert not keyformat.matches(tampered, pepper_id, digest)
    assert not keyformat.matches(full, "unknown", digest)


@pytest.mark.django_db
def test_a_new_pepper_keeps_old_keys_working_and_is_used_for_new_ones(tenant, peppers):
    peppers("old-pepper-" + "a" * 30)
    old_key, old_secret = mint_admin_key(tenant, name="old")
    peppers("new-pepper-" + "b" * 30, "old-pepper-" + "a" * 30)
    new_key, new_secret = mint_admin_key(tenant, name="new")
    assert new_key.pepper_id != old_key.pepper_id
    api = "/t/acme-corp/api/v1/admin/api-keys"
    assert ApiClient(old_secret).get(api).status_code == 200
    assert ApiClient(new_secret).get(api).status_code == 200
    # Once the old pepper is retired, keys made with it stop working.
    peppers("new-pepper-" + "b" * 30)
    assert ApiClient(old_secret).get(api).status_code == 401
    assert ApiClient(new_secret).get(api).status_code == 200


def test_looks_like_key_spots_keys_in_any_position():
    full = keyformat.generate("admin").full
    assert keyformat.looks_like_key(full)
    assert keyformat.looks_like_key("prefix-" + full)
    assert not keyformat.looks_like_key("active")


def test_a_prefix_alone_is_no_key_but_a_key_is_never_a_prefix():
    parsed = keyformat.generate("agent")
    prefix = parsed.full[: len("sk_agent_live_") + keyformat.PUBLIC_ID_LEN]
    assert keyformat.is_prefix_only(prefix) and keyformat.is_prefix_only("lmk_Ab")
    assert not keyformat.is_prefix_only(parsed.full)
    assert not keyformat.is_prefix_only(prefix + "x")
    assert not keyformat.is_prefix_only("ci " + prefix)
