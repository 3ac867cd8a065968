"""Configuration: TOML file, HOTLINE_* environment, flags; bad files name file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import ConfigError, load_settings


def test_defaults() -> None:
    s = load_settings(environ={})
    assert (s.http.host, s.http.port, s.sip.host, s.sip.port) == ("127.0.0.1", 8080, "127.0.0.1", 5060)
    assert s.data_dir == Path("var")
    assert s.database_url.startswith("sqlite+aiosqlite:///") and s.database_url.endswith("var/hotline.db")


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    f = tmp_path / "hotline.toml"
    f.write_text('data_dir = "/srv/h"\n[http]\nport = 9000\nhost = "0.0.0.0"\n[sip]\nport = 5070\n')
    s = load_settings(
        f, environ={"HOTLINE_HTTP_PORT": "9100"}, overrides={"sip_port": 5080, "http_host": None}
    )
    assert s.data_dir == Path("/srv/h")
    assert s.http.port == 9100  # env beats file
    assert s.http.host == "0.0.0.0"  # None flag ignored
    assert s.sip.port == 5080  # flag beats file
    assert s.base_url == "http://127.0.0.1:9100"


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[http]\nport = 70000\n", "http.port", "less than or equal to 65535"),
        ("[http]\nprot = 1\n", "http.prot", "unknown key"),
        ("[database]\nurl = 'mysql://x'\n", "database.url", "async drivers only"),
        ("[log]\nlevel = 'loud'\n", "log.level", "Input should be"),
        ("[http\nport = 1\n", "", "invalid TOML"),
    ],
)
def test_bad_file_names_file_key_reason(tmp_path: Path, text: str, key: str, reason: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(f, environ={})
    msg = str(info.value)
    assert msg.startswith(str(f))
    assert info.value.key == key
    assert reason in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_bad_environment_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={"HOTLINE_HTTP_PORT": "eighty"})
    assert str(info.value).startswith("environment variable HOTLINE_HTTP_PORT: http.port:")
    with pytest.raises(ConfigError, match="HOTLINE_HTTP_PROT"):
        load_settings(environ={"HOTLINE_HTTP_PROT": "1"})
