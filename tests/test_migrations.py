"""The one migration creates the schema the models describe, on SQLite and on PostgreSQL."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from doseapp import create_app
from doseapp.config import load
from doseapp.database import current_revision, ensure_current, head_revision, include_object_for, upgrade
from doseapp.models import db


def _app_on(fresh, tmp_path, app_env):
    env = dict(app_env, DOSEAPP_DATABASE_URL=fresh.url, DOSEAPP_INSTANCE=str(tmp_path / "inst"))
    return create_app(load(env=env))


def test_upgrade_empty_database_matches_models(fresh_database, tmp_path, app_env):
    app = _app_on(fresh_database, tmp_path, app_env)
    assert current_revision(app) is None
    upgrade(app)
    assert current_revision(app) == head_revision(app) == "0016"
    with app.app_context():
        inspector = sa.inspect(db.engine)
        tables = set(inspector.get_table_names())
        assert set(db.metadata.tables) <= tables
        study_indexes = {ix["name"] for ix in inspector.get_indexes("study")}
        assert {"ix_study_modality_datetime", "ix_study_modality_dlp", "ix_study_equipment_datetime"} <= study_indexes
        # PostgreSQL's newest-first index exists there only.
        pg_only = {"ix_study_modality_datetime_desc_pg", "ix_study_modality_dlp_desc_pg", "ix_study_modality_psd_desc_pg",
                   "ix_study_accession_number_trgm_pg", "ix_study_patient_id_trgm_pg"}
        assert (pg_only & study_indexes) == (pg_only if db.engine.dialect.name == "postgresql" else set())
        with db.engine.connect() as conn:
            opts = {"compare_type": True, "include_object": include_object_for(conn.dialect.name)}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        db.engine.dispose()


def test_upgrade_gives_each_existing_user_a_session_token_of_their_own(fresh_database, tmp_path, app_env):
    from flask_migrate import upgrade as upgrade_to

    app = _app_on(fresh_database, tmp_path, app_env)
    with app.app_context():
        upgrade_to(directory=app.config["MIGRATIONS_DIR"], revision="0003")
        with db.engine.begin() as conn:
            for name in ("amy", "bob"):
                conn.execute(sa.text('INSERT INTO "user" (username, password_hash, active, created_at) '
                                     "VALUES (:n, 'x', true, CURRENT_TIMESTAMP)"), {"n": name})
    upgrade(app)
    with app.app_context():
        with db.engine.connect() as conn:
            tokens = conn.execute(sa.text('SELECT session_token FROM "user" ORDER BY id')).scalars().all()
        assert len(tokens) == 2 and all(t and len(t) >= 32 for t in tokens) and tokens[0] != tokens[1]
        db.engine.dispose()


def test_ensure_current_creates_database_once(fresh_database, tmp_path, app_env):
    app = _app_on(fresh_database, tmp_path, app_env)
    assert ensure_current(app) is True
    assert ensure_current(app) is False
    with app.app_context():
        db.engine.dispose()


def test_study_delete_cascades_to_events(app):
    from doseapp.models import CtEvent, CtSource, Equipment, Study

    eq = Equipment(identity_hash="x" * 64, display_name="Room 1")
    study = Study(study_instance_uid="1.2.3", modality="CT", equipment=eq)
    event = CtEvent(study=study, ctdivol_mgy=1.5, dlp_mgycm=20.0)
    event.sources.append(CtSource(kvp=120))
    db.session.add(study)
    db.session.commit()
    db.session.execute(sa.delete(Study).where(Study.id == study.id))  # database-level cascade
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CtEvent)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CtSource)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Equipment)) == 1


def test_report_provenance_migration_keeps_every_row(fresh_database, tmp_path, app_env):
    """0007 down to 0003 and up again on a database holding a CT study: every event, X-ray source and
    object stays (on SQLite a copied ct_event table would have cascade-deleted ct_source)."""
    from flask_migrate import downgrade

    from doseapp.ingest import import_file
    from tests.conftest import TESTDATA

    app = _app_on(fresh_database, tmp_path, app_env)
    upgrade(app)
    tables = ("study", "ct_event", "ct_source", "processed_object")
    with app.app_context():
        assert import_file(TESTDATA / "CT-RDSR-Siemens_Flash-TAP-SS.dcm").status == "imported"
        db.session.remove()

        def counts():
            with db.engine.connect() as conn:
                return {t: conn.scalar(sa.text(f"SELECT count(*) FROM {t}")) for t in tables}
        before = counts()
        assert before == {"study": 1, "ct_event": 4, "ct_source": 4, "processed_object": 1}
        downgrade(directory=app.config["MIGRATIONS_DIR"], revision="0003")
        assert "object_id" not in {c["name"] for c in sa.inspect(db.engine).get_columns("ct_event")}
        assert counts() == before
        upgrade(app)
        assert counts() == before
        with db.engine.connect() as conn:
            # rows stored before 0007 name no report
            assert conn.scalar(sa.text("SELECT count(*) FROM ct_event WHERE object_id IS NULL")) == 4
        db.engine.dispose()
