"""Instance configuration made on first use."""
from __future__ import annotations

import multiprocessing as mp
import re
from pathlib import Path

from doseapp import config


def _key(folder: str, start, out) -> None:
    start.wait()
    out.put(config._secret_key(Path(folder)))


def test_processes_starting_together_share_one_secret_key(tmp_path):
    """Eight processes making the key of a new instance at the same moment all get the same whole
    key (it was: FileExistsError in the losers, or a half-written key read)."""
    ctx = mp.get_context("fork")
    start, out = ctx.Barrier(8), ctx.Queue()
    procs = [ctx.Process(target=_key, args=(str(tmp_path / "instance"), start, out)) for _ in range(8)]
    for p in procs:
        p.start()
    keys = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0] * 8
    assert len(set(keys)) == 1 and re.fullmatch(r"[0-9a-f]{64}", keys[0])
    assert sorted(f.name for f in (tmp_path / "instance").iterdir()) == ["secret_key"]
    assert config._secret_key(tmp_path / "instance") == keys[0]
