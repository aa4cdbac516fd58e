"""Settings: defaults, one clear line naming a bad variable, and every setting documented."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from portal.settings import SETTINGS, ConfigError, from_env

README = Path(__file__).resolve().parents[1] / "README.md"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_defaults_on_sqlite_generate_a_dev_key(tmp_path: Path) -> None:
    settings = from_env({"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}"})
    key_file = tmp_path / "p.db.secret"
    assert settings.secret_keys == (key_file.read_text().strip(),)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert from_env({"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}"}).secret_keys == settings.secret_keys
    assert settings.link_ttl_days == 14
    assert settings.default_region == "US"
    assert settings.company_name is None  # the catalogue's name, in each reader's language
    assert settings.quiet_hours is not None and settings.quiet_hours[0].hour == 21


def test_rotation_keys_are_comma_separated(tmp_path: Path) -> None:
    settings = from_env({"PORTAL_SECRET_KEY": "first-key-0123456789, second-key-0123456789"})
    assert settings.secret_keys == ("first-key-0123456789", "second-key-0123456789")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PORTAL_STORE": "postgres://x"}, "PORTAL_STORE"),
        ({"PORTAL_STORE": "redis://localhost:6379/0"}, "PORTAL_SECRET_KEY"),
        ({"PORTAL_SECRET_KEY": "short"}, "PORTAL_SECRET_KEY"),
        ({"PORTAL_PUBLIC_URL": "track.example.com"}, "PORTAL_PUBLIC_URL"),
        ({"PORTAL_WEBHOOK_SECRET": "secret"}, "PORTAL_WEBHOOK_SECRET"),
        ({"PORTAL_WEBHOOK_SECRET": "whsec_!!!"}, "PORTAL_WEBHOOK_SECRET"),
        ({"PORTAL_CALLBACK_URL": "https://fs.example.com/hook"}, "PORTAL_CALLBACK_SECRET"),
        ({"PORTAL_DEFAULT_REGION": "XX"}, "PORTAL_DEFAULT_REGION"),
        ({"PORTAL_LINK_TTL_DAYS": "two weeks"}, "PORTAL_LINK_TTL_DAYS"),
        ({"PORTAL_LINK_TTL_DAYS": "0"}, "PORTAL_LINK_TTL_DAYS"),
        ({"PORTAL_QUIET_HOURS": "9pm-8am"}, "PORTAL_QUIET_HOURS"),
        ({"PORTAL_TEMPLATES_DIR": "/no/such/dir"}, "PORTAL_TEMPLATES_DIR"),
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_AUTH_TOKEN"),
        ({"SMTP_HOST": "mail.example.com"}, "SMTP_FROM"),
        ({"SMTP_TLS": "maybe"}, "SMTP_TLS"),
        ({"SMTP_PORT": "lots"}, "SMTP_PORT"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, env: dict[str, str], named: str) -> None:
    env = {"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}", **env}
    with pytest.raises(ConfigError) as raised:
        from_env(env)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message


def test_empty_quiet_hours_mean_none(tmp_path: Path) -> None:
    settings = from_env({"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}", "PORTAL_QUIET_HOURS": ""})
    assert settings.quiet_hours is None


def test_every_setting_is_documented() -> None:
    documented = README.read_text()
    if DOCS.exists():
        documented += "".join(p.read_text() for p in DOCS.rglob("*.md"))
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in documented]
    assert missing == []


def test_secrets_do_not_appear_in_repr(tmp_path: Path) -> None:
    settings = from_env(
        {
            "PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}",
            "TWILIO_ACCOUNT_SID": "AC123",
            "TWILIO_AUTH_TOKEN": "twilio-token-value",
            "TWILIO_FROM": "+13125550100",
            "SMTP_PASSWORD": "smtp-password-value",
            "PORTAL_SECRET_KEY": "signing-key-value-0123",
            "PORTAL_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        }
    )
    text = repr(settings)
    for secret in ("twilio-token-value", "smtp-password-value", "signing-key-value", "MfKQ9r8GKYq"):
        assert secret not in text


def test_a_store_password_does_not_appear_in_repr() -> None:
    settings = from_env(
        {"PORTAL_STORE": "redis://:store-password-value@redis.internal:6379/0", "PORTAL_SECRET_KEY": "k" * 32}
    )
    assert "store-password-value" not in repr(settings)


def test_a_wrong_store_url_is_refused_without_echoing_its_password() -> None:
    with pytest.raises(ConfigError, match="PORTAL_STORE") as refused:
        from_env({"PORTAL_STORE": "postgres://portal:store-password-value@db.internal/portal"})
    assert "store-password-value" not in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "address", "name"),
    [
        ("noreply@acme.example", "noreply@acme.example", None),
        ("Acme Heating <noreply@acme.example>", "noreply@acme.example", "Acme Heating"),
        ('"Acme Heating, Inc." <noreply@acme.example>', "noreply@acme.example", "Acme Heating, Inc."),
        ("<noreply@acme.example>", "noreply@acme.example", None),
        ("noreply@acme.example (Acme Heating)", "noreply@acme.example", "Acme Heating"),
        ("Calefacción Núñez <avisos@nunez.example>", "avisos@nunez.example", "Calefacción Núñez"),
        ("  Acme Heating <noreply@acme.example>  ", "noreply@acme.example", "Acme Heating"),
    ],
)
def test_smtp_from_accepts_the_forms_operators_write(tmp_path: Path, raw: str, address: str, name: str | None) -> None:
    env = {"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}", "SMTP_HOST": "mail.example", "SMTP_FROM": raw}
    settings = from_env(env)
    assert (settings.smtp_from, settings.smtp_from_name) == (address, name)


@pytest.mark.parametrize(
    "raw",
    [
        "Acme Heating",
        "noreply",
        "Acme <noreply>",
        "a@acme.example, b@acme.example",
        "Acme Heating noreply@acme.example",
        "Acme <no reply@acme.example>",
        "Acme <noreply@localhost>",
        "Acme <ñandú@acme.example>",
        "noreply@acme.example>",
        "Acme\n <noreply@acme.example>",
        "noreply@acme.example\r\nBcc: everyone@acme.example",
    ],
)
def test_an_unusable_smtp_from_stops_start_up_naming_it(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError) as raised:
        from_env({"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}", "SMTP_HOST": "mail.example", "SMTP_FROM": raw})
    assert "SMTP_FROM" in str(raised.value) and "\n" not in str(raised.value)


def test_a_relative_sqlite_path_that_means_an_absolute_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no tmp/ here, and /tmp at the root of the disk
    with pytest.raises(ConfigError) as raised:
        from_env({"PORTAL_STORE": "sqlite:///tmp/portal/p.db", "PORTAL_SECRET_KEY": "k" * 20})
    message = str(raised.value)
    assert "PORTAL_STORE" in message and "relative path tmp/portal/p.db" in message
    assert "sqlite:////tmp/portal/p.db (four slashes)" in message
    assert from_env({"PORTAL_STORE": "sqlite:////tmp/portal/p.db", "PORTAL_SECRET_KEY": "k" * 20}).sqlite_path == (
        Path("/tmp/portal/p.db")
    )


def test_a_relative_sqlite_path_beside_an_absolute_one_is_kept_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tmp").mkdir()
    settings = from_env({"PORTAL_STORE": "sqlite:///tmp/p.db", "PORTAL_SECRET_KEY": "k" * 20})
    assert settings.sqlite_path == Path("tmp/p.db")
    assert "sqlite:////tmp/p.db" in caplog.text
    assert from_env({"PORTAL_STORE": "sqlite:///data/p.db", "PORTAL_SECRET_KEY": "k" * 20}).sqlite_path == (
        Path("data/p.db")  # no /data either: a relative path, as written
    )
