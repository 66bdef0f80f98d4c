"""Several processes, each a peer with its own key, writing one SQLite room at once."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from agentcrdt.local import create_local, open_local
from agentcrdt.log.audit import verify_log
from agentcrdt.log.keys import Identity

WRITER = textwrap.dedent(
    """
    import sys
    from agentcrdt.local import open_local
    from agentcrdt.log.keys import Identity
    from agentcrdt.state import op

    path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    room = open_local(path, identity=Identity.from_name(name))
    for i in range(n):
        room.commit("ops", {"ops": [
            op("Doc", "shared", "hits", "pncounter", {"inc": 1}),
            op("Doc", name, "last", "lww", {"set": i}),
        ]})
    print("done", flush=True)
    """
)


def test_concurrent_processes_on_one_file_converge(tmp_path: Path) -> None:
    path = tmp_path / "room.db"
    names = ["w1", "w2", "w3"]
    owner = Identity.from_name("owner")
    room = create_local(path, owner, "shared room", owners=tuple(Identity.from_name(n).author for n in names))
    room.store.close()
    n = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), name, str(n)], stdout=subprocess.PIPE, text=True
        )
        for name in names
    ]
    for p in procs:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0 and "done" in out
    reopened = open_local(path)
    follower = reopened.followers[0]
    rows = dict(follower.query("SELECT id, value FROM entities"))  # type: ignore[attr-defined]
    assert json.loads(rows["shared"])["hits"] == n * len(names)  # every increment applied exactly once
    for name in names:
        assert json.loads(rows[name])["last"] == n - 1
    report = verify_log(reopened.store.since(0), stored_heads=reopened.store.heads())
    assert report.intact and report.events == 1 + n * len(names)
    assert reopened.state_at().value("Doc", "shared") == {"hits": n * len(names)}
