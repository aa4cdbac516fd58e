"""Settings: defaults, one clear line naming a bad variable, and every setting documented."""

from __future__ import annotations

import stat
from dataclasses import fields, replace
from pathlib import Path

import pytest

from portal.settings import SETTINGS, ConfigError, Setting, Settings, docs_table, from_env
from tests.helpers import docs_generator

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
        ({"PORTAL_QUIET_HOURS": "08:00-08:00"}, "PORTAL_QUIET_HOURS"),
        ({"PORTAL_NOTIFICATIONS": "booking_confirmed,fireworks"}, "PORTAL_NOTIFICATIONS"),
        ({"PORTAL_WORKER_LEASE_SECONDS": "2"}, "PORTAL_WORKER_LEASE_SECONDS"),
        ({"PORTAL_ETA_DETOUR_FACTOR": "0.9"}, "PORTAL_ETA_DETOUR_FACTOR"),
        ({"PORTAL_ARRIVAL_RADIUS_M": "nan"}, "PORTAL_ARRIVAL_RADIUS_M"),
        ({"PORTAL_MAP_TILES": "https://tiles.example.com/"}, "PORTAL_MAP_TILES"),
        ({"PORTAL_BRAND_COLOR": "red"}, "PORTAL_BRAND_COLOR"),
        ({"PORTAL_SUPPORT_EMAIL": "Help <help@example.com>"}, "PORTAL_SUPPORT_EMAIL"),
        ({"PORTAL_RESCHEDULE_SLOTS": "11:00-09:00"}, "PORTAL_RESCHEDULE_SLOTS"),
        ({"PORTAL_REMINDER_TIME": "6pm"}, "PORTAL_REMINDER_TIME"),
        ({"PORTAL_CALLBACK_SECRET": "whsec_c2hvcnQ="}, "PORTAL_CALLBACK_SECRET"),
        ({"PORTAL_RETENTION_DAYS": "7"}, "PORTAL_RETENTION_DAYS"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, env: dict[str, str], named: str) -> None:
    env = {"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}", **env}
    with pytest.raises(ConfigError) as raised:
        from_env(env)
    message = str(raised.value)
    assert message.startswith(named)
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
    sender = from_env(env).smtp_from
    assert sender is not None and (sender.address, sender.name) == (address, name)


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


def test_the_docs_table_is_the_one_the_settings_make() -> None:
    page = (DOCS / "configuration.md").read_text()
    generate = docs_generator()
    table = page.split(generate.START, 1)[1].split(generate.END, 1)[0]
    assert table == docs_table(), "docs/configuration.md is out of date: run python docs/generate.py"
    assert all(f"| `{s.name}` | " in table for s in SETTINGS)


def test_every_field_read_from_the_environment_has_one_row() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert [f.name for f in fields(Settings) if f.name != "demo"] == [
        f.name for f in fields(Settings) if "portal.setting" in f.metadata
    ]


def test_unset_variables_give_the_dataclass_defaults(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'p.db'}"
    settings = from_env({"PORTAL_STORE": store, "PORTAL_SECRET_KEY": "k" * 20})
    assert settings == replace(Settings(), store_url=store, secret_keys=("k" * 20,))


@pytest.mark.parametrize("row", [s for s in SETTINGS if s.default and s.name != "PORTAL_STORE"], ids=lambda s: s.name)
def test_each_default_written_out_means_the_same_as_unset(tmp_path: Path, row: Setting) -> None:
    base = {"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}", "PORTAL_SECRET_KEY": "k" * 20}
    assert row.default is not None
    assert from_env({**base, row.name: row.default}) == from_env(base)


def test_blank_values_take_the_default_except_where_empty_means_none(tmp_path: Path) -> None:
    base = {"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}", "PORTAL_SECRET_KEY": "k" * 20}
    blank = from_env({**base, **{s.name: "  " for s in SETTINGS if s.name not in base}})
    assert blank == replace(from_env(base), quiet_hours=None, trusted_proxies=())


def test_the_smtp_port_follows_the_tls_mode_unless_given(tmp_path: Path) -> None:
    base = {"PORTAL_STORE": f"sqlite:///{tmp_path / 'p.db'}", "PORTAL_SECRET_KEY": "k" * 20}
    assert from_env({**base, "SMTP_TLS": "TLS"}).smtp_port == 465
    assert from_env({**base, "SMTP_TLS": "none"}).smtp_port == 25
    assert from_env({**base, "SMTP_TLS": "none", "SMTP_PORT": "2525"}).smtp_port == 2525
