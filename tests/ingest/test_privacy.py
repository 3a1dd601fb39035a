"""Patient privacy at ingest: not stored by default, stored plain or as a keyed hash when set,
not-patient patterns matched before identifiers are dropped."""
from __future__ import annotations

import hashlib
import hmac

import pydicom

from doseapp.security import privacy
from doseapp.models import NotPatientPattern, Study, SystemSettings, db

FILE = "CT-RDSR-Siemens_Flash-TAP-SS.dcm"  # SMITH^JOHN, ID 123456, accession ACC12345601


def _settings(**values):
    s = SystemSettings.get()
    for k, v in values.items():
        setattr(s, k, v)
    db.session.commit()


def _study(result) -> Study:
    return db.session.get(Study, result.study["id"])


def test_identifiers_are_not_stored_by_default(imp):
    s = _study(imp(FILE))
    assert (s.patient_name, s.patient_id, s.patient_birth_date) == (None, None, None)
    assert s.accession_number == "ACC12345601" and not s.accession_hashed
    assert s.patient_sex == "M" and s.patient_age_years == 67.6  # always kept


def test_plain_storage(imp):
    _settings(name_stored=True, name_hashed=False, id_stored=True, id_hashed=False, dob_stored=True)
    s = _study(imp(FILE))
    assert (s.patient_name, s.patient_id) == ("SMITH^JOHN", "123456")
    assert s.patient_birth_date is not None and s.patient_birth_date.year < 1940
    assert not s.patient_name_hashed and not s.patient_id_hashed


def test_keyed_hashes_need_the_instance_secret(imp, app):
    _settings(name_stored=True, id_stored=True, accession_hashed=True)  # hashed is the default when stored
    s = _study(imp(FILE))
    key = bytes.fromhex((app.config["INSTANCE"] / "pid_hash_key").read_text())
    assert s.patient_id == hmac.new(key, b"123456", hashlib.sha256).hexdigest()
    assert s.patient_name == hmac.new(key, b"SMITH^JOHN", hashlib.sha256).hexdigest()
    assert s.accession_number == privacy.keyed_hash("ACC12345601")
    assert s.patient_name_hashed and s.patient_id_hashed and s.accession_hashed
    # Unlike OpenREM's plain SHA-256, a list of known IDs cannot be hashed to find the patient.
    assert s.patient_id != hashlib.sha256(b"123456").hexdigest()
    assert oct((app.config["INSTANCE"] / "pid_hash_key").stat().st_mode & 0o777) == "0o600"


def test_not_patient_patterns_match_before_identifiers_are_dropped(imp):
    db.session.add_all([NotPatientPattern(field="id", pattern="PHY*"),
                        NotPatientPattern(field="name", pattern="*^contin*")])
    db.session.commit()
    continued = _study(imp("CT-RDSR-Siemens-Continued-1.dcm"))  # OpenREM^ContinuedStudy, phy12345
    assert continued.not_patient_indicator == "id: PHY*; name: *^contin*"
    assert continued.patient_id is None and continued.patient_name is None
    assert _study(imp(FILE)).not_patient_indicator is None


def test_wildcards(app):
    db.session.add_all([NotPatientPattern(field="id", pattern="phy[0-9]*"),
                        NotPatientPattern(field="name", pattern="physics*")])
    db.session.commit()
    assert privacy.not_patient_indicator(None, "Phy12345") == "id: phy[0-9]*"
    assert privacy.not_patient_indicator(None, "PHY6test") == "id: phy[0-9]*"
    assert privacy.not_patient_indicator(None, "Phyliss") is None
    assert privacy.not_patient_indicator("Physics^RoutIQ", None) == "name: physics*"
    assert privacy.not_patient_indicator("Testing^Physics", None) is None


def test_legacy_patterns_in_one_click(imp):
    assert privacy.add_legacy_patterns() == 6
    assert privacy.add_legacy_patterns() == 0
    qa = _study(imp("CT-RDSR-ToshibaPixelMed.dcm"))  # QATesting^Physics, physics12345
    assert qa.not_patient_indicator == "id: *phy*; name: *phy*; name: *test*; name: *qa*"
    assert _study(imp(FILE)).not_patient_indicator is None


def test_non_latin_names_hash_as_utf8(imp):
    _settings(name_stored=True)
    s = _study(imp("RF-RDSR-Siemens-Zee.dcm"))
    name = str(pydicom.dcmread(privacy_path("RF-RDSR-Siemens-Zee.dcm")).PatientName)
    assert s.patient_name == privacy.keyed_hash(name)


def privacy_path(name):
    from tests.conftest import TESTDATA

    return TESTDATA / name
