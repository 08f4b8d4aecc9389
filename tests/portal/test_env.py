from __future__ import annotations

import pytest

from portal.env import (
    ConfigError,
    env_bool,
    env_color,
    env_int,
    env_list,
    env_secret,
    local_secret,
)


def test_env_bool_accepts_only_true_and_false(monkeypatch):
    monkeypatch.setenv("FLAG", "true")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "FALSE")
    assert env_bool("FLAG", True) is False
    for nonsense in ("yes", "1", "on", "tru"):
        monkeypatch.setenv("FLAG", nonsense)
        with pytest.raises(ConfigError, match="FLAG must be 'true' or 'false'"):
            env_bool("FLAG", False)


def test_env_bool_falls_back_to_the_default_when_unset_or_blank(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG", True) is True
    monkeypatch.setenv("FLAG", "  ")
    assert env_bool("FLAG", False) is False


def test_env_int_rejects_words_and_out_of_range_values(monkeypatch):
    monkeypatch.setenv("PORT", "80a")
    with pytest.raises(ConfigError, match="PORT must be a whole number"):
        env_int("PORT", 1)
    monkeypatch.setenv("PORT", "0")
    with pytest.raises(ConfigError, match="at least 1"):
        env_int("PORT", 1, minimum=1)
    monkeypatch.setenv("PORT", "70000")
    with pytest.raises(ConfigError, match="at most 65535"):
        env_int("PORT", 1, maximum=65535)
    monkeypatch.setenv("PORT", " 8080 ")
    assert env_int("PORT", 1, minimum=1, maximum=65535) == 8080


def test_env_color_takes_rrggbb_only_and_lower_cases_it(monkeypatch):
    monkeypatch.setenv("COLOR", " #2B59C3 ")
    assert env_color("COLOR", "#000000") == "#2b59c3"
    for nonsense in ("blue", "#abc", "2b59c3", "#2b59c3ff"):
        monkeypatch.setenv("COLOR", nonsense)
        with pytest.raises(ConfigError, match="COLOR must be a colour written #rrggbb"):
            env_color("COLOR", "#000000")
    monkeypatch.delenv("COLOR")
    assert env_color("COLOR", "#000000") == "#000000"


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example,,")
    assert env_list("HOSTS", ["x"]) == ["a.example", "b.example"]
    monkeypatch.delenv("HOSTS")
    assert env_list("HOSTS", ["x"]) == ["x"]


def test_env_secret_reads_the_value_or_the_file_but_not_both(monkeypatch, tmp_path):
    secret_file = tmp_path / "key"
    secret_file.write_text("from-file\n")
    monkeypatch.delenv("KEY", raising=False)
    monkeypatch.setenv("KEY_FILE", str(secret_file))
    assert env_secret("KEY") == "from-file"
    monkeypatch.setenv("KEY", "from-env")
    with pytest.raises(ConfigError, match="not both"):
        env_secret("KEY")
    monkeypatch.delenv("KEY_FILE")
    assert env_secret("KEY") == "from-env"


def test_env_secret_names_an_unreadable_or_empty_file(monkeypatch, tmp_path):
    monkeypatch.delenv("KEY", raising=False)
    monkeypatch.setenv("KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="cannot be read"):
        env_secret("KEY")
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("KEY_FILE", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="is empty"):
        env_secret("KEY")


def test_local_secret_is_generated_once_and_kept_private(tmp_path):
    first = local_secret(tmp_path, "pepper")
    assert len(first) > 40
    assert local_secret(tmp_path, "pepper") == first
    assert (tmp_path / "pepper.secret").stat().st_mode & 0o077 == 0
    assert list(tmp_path.glob(".*.tmp")) == []


def test_local_secret_makes_a_valid_fernet_key(tmp_path):
    from cryptography.fernet import Fernet

    key = local_secret(tmp_path, "enc", "fernet")
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
