"""Shared for the list, detail and API tests: the OpenREM test files imported ONCE per module into
the session database (importing them per test would take most of the run), plus one user per role."""
from __future__ import annotations

from tests.conftest import TESTDATA, FreshContextClient, _empty_all_tables, session_login

# The files that make studies (others are rejected or duplicates; tests/ingest covers those).
FILES = sorted(p for p in TESTDATA.glob("*.dcm")
               if p.name.split("-")[0] in ("CT", "DX", "MG", "RF", "Dual", "NM"))
USERS = {"viewer": ["viewer"], "pid": ["pid"], "admin": ["admin"], "adminviewer": ["admin", "viewer"]}
PASSWORD = "password-123"


def load_testdata(app, files=FILES, skin_maps: bool = False) -> None:
    """Empty the database, then: names stored plain, IDs stored as keyed hashes, OpenREM's legacy
    not-patient patterns, the test `files` (default every one) imported, and the USERS made.
    `skin_maps`: also compute each fluoroscopy study's skin dose map (its peak skin dose), as the
    skin map job does (about 2 s for the test files)."""
    from doseapp.ingest import import_file
    from doseapp.security.privacy import add_legacy_patterns
    from doseapp.models import SystemSettings, db
    from doseapp.users import create_user

    _empty_all_tables(app)
    with app.app_context():
        s = SystemSettings.get()
        s.name_stored, s.name_hashed, s.id_stored, s.id_hashed = True, False, True, True
        db.session.commit()
        add_legacy_patterns()
        db.session.commit()
        for path in files:
            import_file(path)
        if skin_maps:
            from doseapp.models import Study
            from doseapp.skin.store import compute_for_study

            for study in db.session.scalars(db.select(Study).where(Study.modality == "RF")).all():
                compute_for_study(study)
            db.session.commit()
        ids = {name: create_user(name, PASSWORD, r).id for name, r in USERS.items()}
        db.session.remove()
    app.config["TEST_USER_IDS"] = ids


def client_for(app, who: str | None):
    """A test client logged in as one of USERS (None: anonymous)."""
    app.test_client_class = FreshContextClient
    client = app.test_client()
    if who is not None:
        from doseapp.models import User, db

        with app.app_context():
            session_login(client, db.session.get(User, app.config["TEST_USER_IDS"][who]))
    return client
