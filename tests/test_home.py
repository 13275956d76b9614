"""KITT_HOME is closed to other users when it is KITT's own folder, and left alone when it is not."""

from kitt.config import Settings


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def test_kitts_own_home_is_closed_and_a_shared_folder_is_not(tmp_path):
    fresh = Settings(home=tmp_path / "new", nats_url=None, database_url="sqlite:///x").prepare_home()
    assert _mode(fresh) == 0o700
    old = tmp_path / "old"
    old.mkdir(mode=0o755)
    (old / "karr.db").write_bytes(b"")  # a home made by an earlier KITT, open to everyone
    old.chmod(0o755)
    Settings(home=old, nats_url=None, database_url="sqlite:///x").prepare_home()
    assert _mode(old) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "someone-elses.txt").write_text("hello")
    shared.chmod(0o1777)
    Settings(home=shared, nats_url=None, database_url="sqlite:///x").prepare_home()
    assert shared.stat().st_mode & 0o7777 == 0o1777  # not ours to change
