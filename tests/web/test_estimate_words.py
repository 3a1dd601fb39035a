"""How an SSDE and an effective dose estimate were had, or why there are none, in the reader's language:
the English the standards code stores (made here by that code), shown in German on pages; in English as
stored; free text inside (the method an RDSR names, a target region it sent) as it came."""
from __future__ import annotations

from flask_babel import force_locale

from doseapp.display.estimate_words import estimate_words, ssde_words
from doseapp.standards import effective_dose, ssde


def _ssde(**kw) -> str:
    base = {"ctdivol_mgy": 10.0, "phantom_type": "IEC Body Dosimetry Phantom", "acquisition_type": "Spiral Acquisition"}
    return ssde.estimate(**{**base, **kw}).method


def _basis(**kw) -> str:
    base = {"dlp_mgycm": 500.0, "target_region": "Chest", "age_years": 50.0}
    return effective_dose.estimate(**{**base, **kw}).region


def test_ssde_methods_in_german(app):
    cases = [
        (_ssde(wed_mm=243.0), "TG-220 aus dem gemeldeten wasseräquivalenten Durchmesser 24,3 cm, 32-cm-Phantom"),
        (_ssde(reported_ssde_mgy=12.0, reported_method="AAPM TG-220"), "vom Scanner gemeldet (AAPM TG-220)"),
        (_ssde(reported_ssde_mgy=12.0), "vom Scanner gemeldet (Methode nicht genannt)"),
        (_ssde(acquisition_type="Constant Angle Acquisition"),
         "kein SSDE: ein Topogramm (Aufnahme mit konstantem Winkel) ist kein Scan"),
        (_ssde(ctdivol_mgy=None), "kein SSDE: der Bericht nennt kein CTDIvol"),
        (_ssde(wed_mm=243.0, phantom_type=None), "kein SSDE: wasseräquivalenter Durchmesser 24,3 cm, aber das "
                                                 "CTDIvol-Phantom (16 oder 32 cm) ist nicht angegeben (none)"),
        (_ssde(wed_mm=700.0), "kein SSDE: der wasseräquivalente Durchmesser 70,0 cm liegt außerhalb der 8–45 cm der "
                              "TG-204-Faktoren"),
        (_ssde(age_years=63.4), "kein SSDE: der Bericht nennt keinen wasseräquivalenten Durchmesser, und der Patient "
                                "ist erwachsen (Alter 63,4 J.)"),
        (_ssde(age_years=None), "kein SSDE: der Bericht nennt keinen wasseräquivalenten Durchmesser, und das Alter "
                                "des Patienten ist unbekannt"),
        (_ssde(age_years=7.0), "kein SSDE: der Bericht nennt keinen wasseräquivalenten Durchmesser, und der Patient ist "
                               "ein Kind (Alter 7 J.), und der effektive Durchmesser nach Alter aus TG-204 wird nicht "
                               "verwendet (Tabelle nicht geprüft)"),
        # A study's methods: joined, with how many scans have none.
        (f"{_ssde(wed_mm=243.0)}; {_ssde(wed_mm=251.0)} (1 of 3 scans without SSDE)",
         "TG-220 aus dem gemeldeten wasseräquivalenten Durchmesser 24,3 cm, 32-cm-Phantom; TG-220 aus dem gemeldeten "
         "wasseräquivalenten Durchmesser 25,1 cm, 32-cm-Phantom (1 von 3 Scans ohne SSDE)"),
        ("a method of no known shape", "a method of no known shape"),
    ]
    with app.test_request_context(), force_locale("de"):
        assert [(english, ssde_words(english)) for english, _ in cases] == cases
    with app.test_request_context():
        assert [ssde_words(english) for english, _ in cases] == [english for english, _ in cases]


def test_effective_dose_bases_in_german(app):
    cases = [
        (_basis(), "Thorax, Erwachsene"),
        (_basis(age_years=None), "Thorax, Erwachsene (Alter unbekannt: Koeffizient für Erwachsene)"),
        (_basis(age_years=4.0, target_region="Abdomen"), "Abdomen und Becken, 5 J."),
        (_basis(target_region=None, study_description="CT HEAD"),
         "Kopf, Erwachsene (aus der Untersuchungsbeschreibung)"),
        (_basis(target_region="Knee"), "keine Schätzung: für die Zielregion 'Knee' gibt es keinen Koeffizienten"),
        (_basis(target_region=None, study_description="Knee"),
         "keine Schätzung: für die Zielregion 'keine; Untersuchungsbeschreibung 'Knee'' gibt es keinen Koeffizienten"),
        (_basis(dlp_mgycm=None), "keine Schätzung: Thorax, aber der Bericht nennt kein DLP"),
        (_basis(phantom_type="IEC Head Dosimetry Phantom"),
         "keine Schätzung: die Koeffizienten für Thorax setzen das 32-cm-Phantom voraus, das CTDIvol wurde für das "
         "16-cm-Phantom angegeben"),
    ]
    with app.test_request_context(), force_locale("de"):
        assert [(english, estimate_words(english)) for english, _ in cases] == cases
    with app.test_request_context():
        assert [estimate_words(english) for english, _ in cases] == [english for english, _ in cases]
