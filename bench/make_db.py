"""Fill a doseapp database with N synthetic but realistic studies, fast.

    DOSEAPP_DATABASE_URL=sqlite:////tmp/bench/big.db .venv/bin/python bench/make_db.py 500000
    psql -h 127.0.0.1 -U postgres -c 'create database big'
    DOSEAPP_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/big .venv/bin/python bench/make_db.py 500000

What it makes (seeded, so the same N gives the same data): 70 systems (CT, fluoroscopy, mammography,
radiography rooms at four hospitals, some sharing a display name after an upgrade); studies spread
over eight years up to today, busier on weekdays; per modality the mix real systems send: CT 2-8
events (topogram, then helical or axial scans with one X-ray source each, two on dual-source
scanners), radiography 1-3 exposures, mammography 4 views (some 5-8 with tomosynthesis), fluoroscopy
5-60 events of fluoro and acquisition with per-plane totals; log-normal doses, ages, weights, a few
test patients. Summary columns are filled exactly as ingest fills them (sums over the events).

--kind nm makes nuclear medicine and PET studies instead, on 12 gamma cameras and PET/CTs: FDG
(^18^Fluorine, 150-450 MBq), Ga-68 PSMA, Tc-99m bone, myocardial perfusion, lung, renal, thyroid and
parathyroid agents, one administration each (3 % two), weights for most, the study's nm_* columns as
the RRDSR ingest's summary fills them:

    DOSEAPP_DATABASE_URL=sqlite:////tmp/nmbench/nm.db .venv/bin/python bench/make_db.py 100000 --kind nm

Rows go in with executemany (SQLite) or COPY (PostgreSQL) in batches, with explicit ids, then the
planner's statistics are refreshed (ANALYZE; VACUUM ANALYZE on PostgreSQL). The schema is created or
upgraded first (and a missing SQLite folder). Existing rows are kept: new ids start after the largest.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import database_url_from_env  # noqa: E402 (bench/ is the script's folder)

SHARE = {"CT": 0.40, "DX": 0.40, "MG": 0.12, "RF": 0.08}
HOSPITALS = ["Royal Infirmary", "County Hospital", "St Mary's", "Children's Hospital"]
SYSTEMS = {  # modality: (count, [(manufacturer, model)])
    "CT": (20, [("SIEMENS", "SOMATOM Definition Flash"), ("GE MEDICAL SYSTEMS", "Revolution CT"),
                ("TOSHIBA", "Aquilion ONE"), ("Philips", "iCT 256")]),
    "DX": (25, [("Carestream Health", "DRX-Evolution"), ("Canon Inc.", "CXDI-710C"),
                ("GE Healthcare", "Optima XR220"), ("Philips", "DigitalDiagnost")]),
    "MG": (10, [("HOLOGIC, Inc.", "Selenia Dimensions"), ("GE MEDICAL SYSTEMS", "Senographe Pristina")]),
    "RF": (15, [("Siemens", "AXIOM-Artis"), ("Philips Medical Systems", "Allura Xper"),
                ("CANON_MEC", "Alphenix"), ("GE Healthcare", "OEC Elite")]),
}
CT_EXAMS = [("CT Head", "Head Routine", 60, 900), ("CT Chest", "Thorax Routine", 40, 350),
            ("CT Abdomen Pelvis", "Abdomen Routine", 80, 600), ("CT Chest Abdomen Pelvis", "TAP Contrast", 100, 800),
            ("CT Cardiac", "Cardiac CTA", 20, 300), ("CT Spine", "Lumbar Spine", 30, 500),
            ("CT Colonography", "Colon Prone", 50, 300), ("CT KUB", "Kidneys Low Dose", 20, 200)]
DX_EXAMS = [("XR Chest PA", ["PA Chest"], 10), ("XR Chest AP", ["AP Chest"], 12), ("XR Knee", ["AP Knee", "LAT Knee"], 3),
            ("XR Pelvis", ["AP Pelvis"], 90), ("XR Lumbar Spine", ["AP L-Spine", "LAT L-Spine"], 150),
            ("XR Hand", ["PA Hand", "OBL Hand"], 1), ("XR Abdomen", ["AP Abdomen"], 120),
            ("XR Shoulder", ["AP Shoulder", "Y View"], 8)]
MG_EXAMS = [("Bilateral Mammography", "ROUTINE"), ("Screening Mammography", "ROUTINE"),
            ("XR Breast tomosynthesis Both", "Tomo Combo"), ("Unilateral Mammography Left", "ROUTINE")]
RF_EXAMS = [("Barium Swallow", "Gastro 7.5f/s"), ("Coronary Angiogram", "Cardiac 15fps"),
            ("PCI", "Cardiac 15fps"), ("Hip Pinning", "Ortho 4 fps"), ("ERCP", "Abdomen 3fps"),
            ("Peripheral Angiogram", "DSA Legs"), ("Pacemaker Insertion", "CP_Standard")]
VIEWS = ["cranio-caudal", "medio-lateral oblique"]
# Nuclear medicine (--kind nm): gamma cameras and PET/CTs, one administration a study (a few two), as
# the RRDSR ingest records them. (description, radiopharmaceutical, radionuclide, half-life s,
# activity MBq low-high, mSv per MBq, share)
NM_SYSTEMS = (12, [("SIEMENS", "Biograph Vision"), ("GE MEDICAL SYSTEMS", "Discovery MI"),
                   ("SIEMENS", "Symbia Intevo"), ("GE MEDICAL SYSTEMS", "NM/CT 870 DR")])
NM_EXAMS = [("PET-CT FDG Whole Body", "Fluorodeoxyglucose", "^18^Fluorine", 6586.2, 150, 450, 0.019, 0.40),
            ("PET-CT FDG Brain", "Fluorodeoxyglucose", "^18^Fluorine", 6586.2, 150, 250, 0.019, 0.04),
            ("PET-CT PSMA", "Gallium Ga-68 PSMA-11", "^68^Gallium", 4062.6, 100, 200, 0.017, 0.06),
            ("NM Bone Scan", "Technetium Tc-99m medronate", "^99m^Technetium", 21624.12, 500, 800, 0.0057, 0.20),
            ("NM Myocardial Perfusion", "Technetium Tc-99m tetrofosmin", "^99m^Technetium", 21624.12, 300, 1000,
             0.0076, 0.12),
            ("NM Lung Perfusion", "Technetium Tc-99m macroaggregated albumin", "^99m^Technetium", 21624.12, 40, 100,
             0.011, 0.06),
            ("NM Renogram", "Technetium Tc-99m mertiatide", "^99m^Technetium", 21624.12, 70, 200, 0.007, 0.05),
            ("NM Thyroid", "Technetium Tc-99m pertechnetate", "^99m^Technetium", 21624.12, 40, 80, 0.013, 0.04),
            ("NM Parathyroid", "Technetium Tc-99m sestamibi", "^99m^Technetium", 21624.12, 400, 900, 0.009, 0.03)]


def _equipment(rng: random.Random, start_id: int, kind: str = "mixed") -> list[dict]:
    rows, now = [], dt.datetime(2024, 1, 1)
    for mod, (count, makes) in (SYSTEMS if kind == "mixed" else {"NM": NM_SYSTEMS}).items():
        for i in range(count):
            make, model = makes[i % len(makes)]
            hospital = HOSPITALS[i % len(HOSPITALS)]
            station = f"{mod}{i + 1:02d}"
            # Every fifth system was upgraded: a second row (new software) with the same display name.
            for version in (("VA40",) if i % 5 else ("VA40", "VB10")):
                values = dict(manufacturer=make, institution_name=hospital, station_name=station,
                              model_name=model, software_versions=version, device_serial_number=f"SN{mod}{i}")
                rows.append(dict(id=start_id + len(rows), identity_hash=hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest(),
                                 display_name=f"{hospital} {station}", created_at=now, department_name=None,
                                 gantry_id=None, device_observer_uid=None, institution_address=None,
                                 user_defined_modality=None, modality=mod, **values))
    return rows


def _when(rng: random.Random, days: int, today: dt.date) -> dt.datetime:
    while True:
        d = today - dt.timedelta(days=int(rng.random() ** 0.9 * days))
        if d.weekday() < 5 or rng.random() < 0.3:
            break
    return dt.datetime.combine(d, dt.time(rng.randint(7, 19), rng.randint(0, 59), rng.randint(0, 59)))


TABLES = ("study", "ct_event", "ct_source", "xray_event", "accumulated_plane", "nm_administration")


def generate(n: int, study_id0: int, ct_id0: int, src_id0: int, xr_id0: int, plane_id0: int, eq_rows,
             seed: int = 1, batch: int = 20000, nm_id0: int = 1, kind: str = "mixed"):
    """Yields batches: dicts of table name -> list of row dicts. kind "nm": nuclear medicine studies only."""
    rng = random.Random(seed + study_id0)
    today = dt.date.today()
    share = SHARE if kind == "mixed" else {"NM": 1.0}
    by_mod = {m: [e for e in eq_rows if e["modality"] == m] for m in share}
    mods, weights = list(share), list(share.values())
    ids = dict(study=study_id0, ct=ct_id0, src=src_id0, xr=xr_id0, plane=plane_id0, nm=nm_id0)
    out = {k: [] for k in TABLES}
    created = dt.datetime.now().replace(microsecond=0)
    for k in range(n):
        mod = rng.choices(mods, weights)[0]
        eq = rng.choice(by_mod[mod])
        when = _when(rng, 8 * 365, today)
        sid = ids["study"]
        ids["study"] += 1
        test_patient = rng.random() < 0.01
        s = dict(id=sid, study_instance_uid=f"1.2.826.0.1.3680043.9.7777.{sid}", modality=mod,
                 equipment_id=eq["id"], source_kind="rdsr", study_date=when.date(), study_time=when.time(),
                 study_datetime=when, study_id=str(sid), accession_number=f"{rng.randrange(10**9, 10**10)}",
                 accession_hashed=False, patient_name=None, patient_name_hashed=False, patient_id=None,
                 patient_id_hashed=False, patient_birth_date=None,
                 patient_sex=rng.choice("MF"), patient_age_years=round(min(100.0, max(0.0, rng.gauss(58, 20))), 1),
                 patient_height_m=None,
                 patient_weight_kg=round(max(3.0, rng.gauss(78, 16)), 1) if rng.random() < 0.4 else None,
                 not_patient_indicator="id: *phy*" if test_patient else None, comment=None,
                 operator_name=None, referring_physician_name=None, performing_physician_name=None,
                 reading_physician_name=None, procedure_code_value=None, requested_procedure_code_value=None,
                 created_at=created, updated_at=created)
        for col in ("total_dlp_mgycm", "ct_sequenced_count", "ct_spiral_count", "ct_constant_angle_count",
                    "ct_stationary_count", "ct_free_count", "ct_cone_beam_count", "total_dap_gym2",
                    "total_dose_rp_gy", "dap_a_gym2", "dap_b_gym2", "dose_rp_a_gy", "dose_rp_b_gy",
                    "fluoro_dap_total_gym2", "fluoro_dose_rp_total_gy", "fluoro_time_total_s",
                    "acquisition_dap_total_gym2", "acquisition_dose_rp_total_gy", "acquisition_time_total_s",
                    "acquisition_count", "fluoro_event_count", "agd_left_mgy", "agd_right_mgy", "agd_both_mgy",
                    "mean_ctdivol_mgy", "mean_ssde_mgy", "ssde_method", "effective_dose_msv"):
            s[col] = None
        if mod == "CT":
            desc, protocol, ctdi, dlp_med = rng.choice(CT_EXAMS)
            s.update(study_description=desc, procedure_code_meaning=desc, requested_procedure_code_meaning=desc)
            dual = eq["model_name"] == "SOMATOM Definition Flash" and rng.random() < 0.5
            n_ev = rng.choice((2, 2, 3, 3, 3, 4, 4, 5, 6, 8))
            total, spiral = 0.0, 0
            scans = []
            for j in range(n_ev):
                topo = j == 0
                length = rng.uniform(200, 600)
                ctdivol = 0.1 if topo else ctdi / 2 * rng.lognormvariate(0, 0.35)
                dlp = round(ctdivol * length / 10, 2) if not topo else round(rng.uniform(2, 12), 2)
                total += dlp
                kind = "Constant Angle Acquisition" if topo else rng.choice(("Spiral Acquisition",) * 4 + ("Sequenced Acquisition",))
                spiral += kind == "Spiral Acquisition"
                if not topo:
                    scans.append(round(ctdivol, 3))
                eid = ids["ct"]
                ids["ct"] += 1
                out["ct_event"].append(dict(
                    id=eid, study_id=sid, acquisition_protocol="Topogram" if topo else protocol, acquisition_type=kind,
                    ctdivol_mgy=round(ctdivol, 3), dlp_mgycm=dlp, scanning_length_mm=round(length, 1),
                    exposure_time_s=round(rng.uniform(1, 15), 2), pitch_factor=None if topo else rng.choice((0.6, 0.8, 1.0, 1.2)),
                    nominal_single_collimation_mm=0.6, nominal_total_collimation_mm=rng.choice((19.2, 38.4, 57.6)),
                    number_of_xray_sources=2 if dual else 1, xray_modulation_type="XYZ_EC",
                    ctdiw_phantom_type="IEC Body Dosimetry Phantom", date_time_started=when))
                for src in (("A", "B") if dual else ("A",)):
                    out["ct_source"].append(dict(id=ids["src"], event_id=eid, identification=src,
                                                 kvp=rng.choice((80.0, 100.0, 120.0, 140.0)),
                                                 tube_current_ma=round(rng.uniform(50, 400), 1),
                                                 max_tube_current_ma=round(rng.uniform(400, 600), 1),
                                                 exposure_time_per_rotation_s=rng.choice((0.28, 0.5, 1.0))))
                    ids["src"] += 1
            s.update(number_of_events=n_ev, total_dlp_mgycm=round(total, 2), ct_spiral_count=spiral)
            # The study's CT estimates (doseapp.standards): a third of the studies as if their scanner
            # reported a water-equivalent diameter (TG-204 32 cm fit), the others without an SSDE.
            mean_ctdi = round(sum(scans) / len(scans), 4)
            s.update(mean_ctdivol_mgy=mean_ctdi, effective_dose_msv=round(total * 0.015, 4))
            if rng.random() < 0.35:
                dw = rng.uniform(20, 38)
                s.update(mean_ssde_mgy=round(mean_ctdi * 3.704369 * math.exp(-0.03671937 * dw), 4),
                         ssde_method=f"TG-220 from reported water-equivalent diameter {dw:.1f} cm, 32 cm phantom")
            else:
                s.update(ssde_method="no SSDE: the report gives no water-equivalent diameter and the patient is an adult")
        elif mod == "NM":
            out["nm_administration"].extend(_nm(rng, s, sid, when, ids))
        else:
            events, planes = _projection(rng, mod, s, sid, when, ids)
            out["xray_event"].extend(events)
            out["accumulated_plane"].extend(planes)
        out["study"].append(s)
        if len(out["study"]) >= batch or k == n - 1:
            yield out
            out = {key: [] for key in out}


def _xr(ids, sid, when, **kw) -> dict:
    row = dict(id=ids["xr"], study_id=sid, date_time_started=when, acquisition_plane="Single Plane", **kw)
    ids["xr"] += 1
    return row


def _projection(rng, mod, s, sid, when, ids):
    events, planes = [], []
    if mod == "DX":
        desc, protocols, dap_cgy = rng.choice(DX_EXAMS)
        s.update(study_description=desc, procedure_code_meaning=desc, requested_procedure_code_meaning=desc)
        total = 0.0
        for p in protocols[: rng.randint(1, len(protocols))] + ([protocols[0]] if rng.random() < 0.1 else []):
            dap = dap_cgy * rng.lognormvariate(0, 0.5) * 1e-6
            total += dap
            events.append(_xr(ids, sid, when, event_type="Stationary Acquisition", acquisition_protocol=p,
                              dap_gym2=dap, kvp=rng.choice((60.0, 70.0, 81.0, 90.0, 125.0)),
                              exposure_uas=rng.uniform(500, 40000), exposure_index=rng.uniform(200, 800),
                              distance_source_to_detector_mm=rng.choice((1000.0, 1150.0, 1800.0))))
        s.update(number_of_events=len(events), total_dap_gym2=total, dap_a_gym2=total, acquisition_dap_total_gym2=total)
        planes.append(dict(id=_plane_id(ids), study_id=sid, acquisition_plane="Single Plane", dap_total_gym2=total))
    elif mod == "MG":
        desc, protocol = rng.choice(MG_EXAMS)
        s.update(study_description=desc, procedure_code_meaning=desc, requested_procedure_code_meaning=desc)
        lats = ["Left"] if "Left" in desc else ["Right", "Left"]
        agd = {"Left": 0.0, "Right": 0.0}
        n_views = 2 if rng.random() < 0.85 else rng.randint(2, 4)
        for lat in lats:
            thickness = round(rng.uniform(20, 90))
            for v in range(n_views):
                dose = 0.6 + thickness / 60 * rng.lognormvariate(0, 0.2)
                agd[lat] += dose
                events.append(_xr(ids, sid, when, event_type="Stationary Acquisition", acquisition_protocol=protocol,
                                  laterality=lat, image_view=VIEWS[v % 2], compression_thickness_mm=float(thickness),
                                  agd_mgy=round(dose, 3), kvp=float(rng.randint(26, 34)), exposure_uas=rng.uniform(40000, 200000),
                                  exposure_control_mode=rng.choice(("AUTOMATIC", "AUTOMATIC", "MANUAL")),
                                  anode_target_material="Tungsten"))
        s.update(number_of_events=len(events), agd_left_mgy=round(agd["Left"], 3) if agd["Left"] else None,
                 agd_right_mgy=round(agd["Right"], 3) if agd["Right"] else None,
                 agd_both_mgy=round(agd["Left"] + agd["Right"], 3))
    else:  # RF
        desc, protocol = rng.choice(RF_EXAMS)
        s.update(study_description=desc, procedure_code_meaning=desc, requested_procedure_code_meaning=desc)
        n_ev = rng.randint(5, 60)
        sums = {"f_dap": 0.0, "f_rp": 0.0, "f_t": 0.0, "a_dap": 0.0, "a_rp": 0.0, "a_t": 0.0}
        n_acq = 0
        for j in range(n_ev):
            fluoro = rng.random() < 0.7
            dap = rng.lognormvariate(-11, 1.0)
            rp = dap * rng.uniform(150, 400)
            duration = rng.uniform(1, 30) if fluoro else rng.uniform(2, 10)
            key = "f" if fluoro else "a"
            sums[f"{key}_dap"] += dap
            sums[f"{key}_rp"] += rp
            sums[f"{key}_t"] += duration
            n_acq += not fluoro
            events.append(_xr(ids, sid, when + dt.timedelta(seconds=30 * j),
                              event_type="Fluoroscopy" if fluoro else "Stationary Acquisition",
                              acquisition_protocol=protocol, dap_gym2=dap, dose_rp_gy=rp,
                              pulse_rate_per_s=rng.choice((3.0, 7.5, 15.0)), kvp=rng.uniform(60, 110),
                              tube_current_ma=rng.uniform(5, 600), pulse_width_ms=rng.uniform(4, 12),
                              irradiation_duration_s=duration, exposure_time_ms=duration * 1000 * rng.uniform(0.05, 0.15),
                              positioner_primary_angle_deg=rng.uniform(-90, 90),
                              positioner_secondary_angle_deg=rng.uniform(-40, 40)))
        dap_total, rp_total = sums["f_dap"] + sums["a_dap"], sums["f_rp"] + sums["a_rp"]
        s.update(number_of_events=n_ev, total_dap_gym2=dap_total, total_dose_rp_gy=rp_total, dap_a_gym2=dap_total,
                 dose_rp_a_gy=rp_total, fluoro_dap_total_gym2=sums["f_dap"], fluoro_dose_rp_total_gy=sums["f_rp"],
                 fluoro_time_total_s=sums["f_t"], acquisition_dap_total_gym2=sums["a_dap"],
                 acquisition_dose_rp_total_gy=sums["a_rp"], acquisition_time_total_s=sums["a_t"],
                 acquisition_count=n_acq, fluoro_event_count=n_ev - n_acq)
        planes.append(dict(id=_plane_id(ids), study_id=sid, acquisition_plane="Single Plane", dap_total_gym2=dap_total,
                           dose_rp_total_gy=rp_total, fluoro_dap_total_gym2=sums["f_dap"],
                           fluoro_dose_rp_total_gy=sums["f_rp"], total_fluoro_time_s=sums["f_t"],
                           acquisition_dap_total_gym2=sums["a_dap"], acquisition_dose_rp_total_gy=sums["a_rp"],
                           total_acquisition_time_s=sums["a_t"]))
    return events, planes


def _nm(rng, s, sid, when, ids) -> list[dict]:
    """One administration (3 % of studies two: a rest/stress pair), the study's nm_* summary as
    ingest.summary.summarise_nm fills it."""
    exam = rng.choices(NM_EXAMS, [e[-1] for e in NM_EXAMS])[0]
    desc, pharm, nuclide, half_life, low, high, msv_per_mbq, _ = exam
    s.update(study_description=desc, procedure_code_meaning=desc, requested_procedure_code_meaning=desc,
             source_kind="rrdsr")
    if s["patient_weight_kg"] is None and rng.random() < 0.5:  # PET sites record the weight (SUV)
        s["patient_weight_kg"] = round(max(3.0, rng.gauss(78, 16)), 1)
    rows = []
    for j in range(2 if rng.random() < 0.03 else 1):
        start = when + dt.timedelta(minutes=-60 + 180 * j)
        activity = round(rng.uniform(low, high) * rng.lognormvariate(0, 0.05), 1)
        pre = round(activity * rng.uniform(1.02, 1.10), 1)
        rows.append(dict(id=ids["nm"], study_id=sid, from_report=True, event_uid=f"1.2.826.0.1.3680043.9.7778.{ids['nm']}",
                         radiopharmaceutical=pharm, radionuclide=nuclide, radionuclide_half_life_s=half_life,
                         start_datetime=start, stop_datetime=start + dt.timedelta(seconds=30),
                         administered_activity_mbq=activity, pre_administration_activity_mbq=pre,
                         pre_administration_datetime=start - dt.timedelta(minutes=5),
                         post_administration_activity_mbq=round(pre - activity, 1),
                         post_administration_datetime=start + dt.timedelta(minutes=2), route="Intravenous route",
                         site="Structure of right antecubital vein" if rng.random() < 0.5 else None,
                         effective_dose_msv=round(activity * msv_per_mbq, 3) if rng.random() < 0.6 else None,
                         effective_dose_authority="ICRP Publication 128" if rng.random() < 0.6 else None,
                         glucose_mmol_l=round(rng.uniform(4, 9), 1) if nuclide == "^18^Fluorine" else None))
        ids["nm"] += 1
    total = round(sum(r["administered_activity_mbq"] for r in rows), 1)
    doses = [r["effective_dose_msv"] for r in rows if r["effective_dose_msv"] is not None]
    weight = s["patient_weight_kg"]
    s.update(number_of_events=len(rows), nm_activity_mbq=total, nm_radiopharmaceutical=pharm, nm_radionuclide=nuclide,
             nm_effective_dose_msv=round(sum(doses), 3) if doses else None,
             nm_activity_per_kg_mbq=float(f"{total / weight:.12g}") if weight else None)
    return rows


def _plane_id(ids) -> int:
    ids["plane"] += 1
    return ids["plane"] - 1


class Writer:
    """Bulk rows into one table: executemany on SQLite, COPY on PostgreSQL. Columns not given are NULL."""

    def __init__(self, engine, metadata):
        self.engine, self.metadata = engine, metadata
        self.pg = engine.dialect.name == "postgresql"

    def write(self, conn, table_name: str, rows: list[dict]) -> None:
        if not rows:
            return
        table = self.metadata.tables[table_name]
        # Only the columns these rows give (event rows fill 15 of 80 columns): the rest stay NULL.
        given = set().union(*(r.keys() for r in rows))
        cols = [c.name for c in table.columns if c.name in given]
        raw = conn.connection.driver_connection
        if self.pg:
            quoted = ", ".join(f'"{c}"' for c in cols)
            with raw.cursor() as cur, cur.copy(f'COPY "{table_name}" ({quoted}) FROM STDIN') as copy:
                for r in rows:
                    copy.write_row(tuple(r.get(c) for c in cols))
        else:
            # SQLAlchemy's SQLite forms: "YYYY-MM-DD", "HH:MM:SS[.ffffff]", "YYYY-MM-DD HH:MM:SS[.ffffff]".
            temporal = [i for i, c in enumerate(cols)
                        if table.c[c].type.python_type in (dt.datetime, dt.date, dt.time)]
            marks = ", ".join("?" for _ in cols)
            data = [tuple(map(r.get, cols)) for r in rows]
            if temporal:
                data = [tuple(str(v) if (i in temporal and v is not None) else v for i, v in enumerate(t))
                        for t in data] if len(temporal) > 2 else [_fix(t, temporal) for t in data]
            raw.executemany(f'INSERT INTO "{table_name}" ({", ".join(cols)}) VALUES ({marks})', data)


def _fix(t: tuple, positions: list[int]) -> tuple:
    out = list(t)
    for i in positions:
        if out[i] is not None:
            out[i] = str(out[i])
    return tuple(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", type=int, help="number of studies to add")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kind", choices=("mixed", "nm"), default="mixed",
                    help="mixed: CT, radiography, mammography, fluoroscopy (default); nm: nuclear medicine and PET "
                         "studies with their radiopharmaceutical administrations")
    args = ap.parse_args()
    database_url_from_env()

    from sqlalchemy import func, select, text

    from doseapp import create_app
    from doseapp.database import upgrade
    from doseapp.models import db

    app = create_app({"LOG_LEVEL": "WARNING"})
    upgrade(app)
    started = time.perf_counter()
    with app.app_context():
        engine, md = db.engine, db.metadata
        writer = Writer(engine, md)

        def next_id(conn, table):
            return (conn.execute(select(func.max(md.tables[table].c.id))).scalar() or 0) + 1

        with engine.begin() as conn:
            eq0 = next_id(conn, "equipment")
            existing = conn.execute(text("SELECT id, display_name, manufacturer, model_name FROM equipment")).all()
            eq_rows = _equipment(random.Random(args.seed), eq0, args.kind)
            known = {r.display_name for r in existing}
            if not {e["display_name"] for e in eq_rows} <= known:
                writer.write(conn, "equipment", [{k: v for k, v in e.items() if k != "modality"} for e in eq_rows])
            else:  # a second run adds studies to the systems made by the first
                by_name = {(r.display_name, r.model_name): r.id for r in existing}
                for e in eq_rows:
                    e["id"] = by_name.get((e["display_name"], e["model_name"]), e["id"])
            starts = [next_id(conn, t) for t in TABLES]
        done, counts = 0, {}
        for batch in generate(args.n, *starts[:5], eq_rows, seed=args.seed, nm_id0=starts[5], kind=args.kind):
            with engine.begin() as conn:
                for table in TABLES:
                    writer.write(conn, table, batch[table])
                    counts[table] = counts.get(table, 0) + len(batch[table])
            done += len(batch["study"])
            rate = done / (time.perf_counter() - started)
            print(f"\r{done}/{args.n} studies ({rate:,.0f}/s)", end="", flush=True, file=sys.stderr)
        print(file=sys.stderr)
        if engine.dialect.name == "postgresql":
            # VACUUM as autovacuum soon would: sets the visibility map, so counts are index-only scans.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
    took = time.perf_counter() - started
    print(f"added {args.n} studies in {took:.1f} s ({args.n / took:,.0f} studies/s): "
          + ", ".join(f"{t} {c}" for t, c in counts.items()))


if __name__ == "__main__":
    main()
