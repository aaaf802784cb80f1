"""The one fingerprint of a data root (packed sources and run tags use it)."""

from __future__ import annotations

from tasks.fingerprint import fingerprint


def test_data_fingerprint_notices_an_edited_file(tmp_path):
    (tmp_path / "a").mkdir()
    for i in range(5):
        (tmp_path / "a" / f"{i}.png").write_bytes(b"x" * i)
    before = fingerprint(tmp_path)
    assert fingerprint(tmp_path) == before
    assert before["files"] == 5 and before["root"] == str(tmp_path.resolve())
    (tmp_path / "a" / "3.png").write_bytes(b"y" * 7)
    assert fingerprint(tmp_path) != before
