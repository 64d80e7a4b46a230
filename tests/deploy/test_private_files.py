"""Key files and the SQLite store as a host keeps them: private to their user, never left empty."""
from __future__ import annotations

import stat

import pytest

from config import Config, ConfigError
from store import open_store


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def fresh(tmp_path) -> Config:
    """A config whose data folder does not exist yet and whose keys are not set."""
    return Config.from_mapping({"DATABASE_URL": f"sqlite:///{tmp_path}/data/shop.db"})


def test_the_data_folder_and_generated_keys_are_private(fresh):
    resolved = fresh.with_secrets()
    folder = fresh.data_dir
    assert mode(folder) == 0o700
    for name in (".secret_key", ".token_encryption_key"):
        assert mode(folder / name) == 0o600
    assert resolved.token_encryption_key == (folder / ".token_encryption_key").read_text()
    assert sorted(p.name for p in folder.iterdir()) == [".secret_key", ".token_encryption_key"]


def test_the_database_and_its_journal_files_are_private(fresh):
    store = open_store(fresh.database_url)
    store.create_user("owner", "hash")
    folder = fresh.data_dir
    assert mode(folder) == 0o700
    files = sorted(folder.iterdir())
    assert [p.name for p in files] == ["shop.db", "shop.db-shm", "shop.db-wal"]
    assert [mode(p) for p in files] == [0o600] * 3
    store.close()


@pytest.mark.parametrize("content,error", [("", "is empty"), ("\n", "is empty"),
                                           ("not a key", "holds no valid key")])
def test_a_token_key_file_without_a_key_is_an_error_naming_it(fresh, content, error):
    """Tokens may be encrypted with the lost key: the owner decides, nothing is overwritten."""
    fresh.data_dir.mkdir(parents=True)
    key_file = fresh.data_dir / ".token_encryption_key"
    key_file.write_text(content)
    with pytest.raises(ConfigError, match=f"{key_file} {error}"):
        fresh.secret("token_encryption_key")
    assert key_file.read_text() == content


def test_an_empty_session_key_file_is_regenerated(fresh):
    """It only signs cookies, so nothing stored is lost by a new one."""
    fresh.data_dir.mkdir(parents=True)
    key_file = fresh.data_dir / ".secret_key"
    key_file.write_text("\n")
    generated = fresh.secret("secret_key")
    assert len(generated) == 44 and key_file.read_text() == generated
    assert mode(key_file) == 0o600


def test_a_generated_key_is_stable_across_processes_and_calls(fresh):
    first = fresh.secret("token_encryption_key")
    assert Config.from_mapping({"DATABASE_URL": fresh.database_url}).secret(
        "token_encryption_key") == first


def test_a_key_folder_that_is_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "blocked").write_text("a file where the data folder should be")
    config = Config.from_mapping({"DATABASE_URL": f"sqlite:///{tmp_path}/blocked/shop.db"})
    with pytest.raises(ConfigError, match="key file .*blocked/.token_encryption_key: Not a "
                                          "directory$"):
        config.secret("token_encryption_key")
