"""A Radiopharmaceutical Radiation Dose report (TID 10021) read into a DoseReport of tree "nm": one
NmAdministrationRecord per Radiopharmaceutical Administration container (TID 10022), with the
patient characteristics (TID 10023) folded into each, and the patient's height and weight stated in
the report filling the study's when the header has none.

Units are normalised as for X-ray reports (units.UNIT_TABLE): activities in MBq whatever the unit
sent (Bq, GBq, mCi...), half-life in s, organ doses mGy, effective dose mSv. A value in a unit the
table does not know is not stored, with a warning.
"""
from __future__ import annotations

from doseapp.extract import units
from doseapp.extract.rdsr import _finish, new_context, new_report
from doseapp.extract.records import DoseReport, Malformed, NmAdministrationRecord
from doseapp.extract.sr import Ctx, Node, find, read_tree

RADIOPHARMACEUTICAL_DOSE_REPORT = ("113500", "DCM")
SOURCE_KIND = "rrdsr"

_ADMINISTRATION = "113502"
_PATIENT_CHARACTERISTICS = "121118"

# Numeric items of the administration container: code -> (record field, unit kind).
_ADMIN_NUMS = {
    "R-42806": ("radionuclide_half_life_s", "time_s"),  # may sit under the agent (Siemens) or beside it
    "304283002": ("radionuclide_half_life_s", "time_s"),
    "123007": ("specific_activity_bq_per_mmol", None),
    "123005": ("volume_ml", "volume_ml"),
    "113507": ("administered_activity_mbq", "activity_mbq"),
    "113506": ("estimated_extravasation_percent", "percent"),
}
# Patient characteristics: code -> (record field, unit kind).
_PATIENT_NUMS = {
    "8277-6": ("body_surface_area_m2", "area_m2"),
    "60621009": ("bmi_kg_m2", "bmi"),
    "14749-6": ("glucose_mmol_l", "glucose_mmol_l"),
    "113550": ("fasting_duration_h", "time_s"),
    "113551": ("hydration_volume_ml", "volume_ml"),
}


def read_report(ds, source_kind: str = SOURCE_KIND) -> DoseReport:
    """The DoseReport of a Radiopharmaceutical Radiation Dose report (root concept 113500)."""
    ctx = new_context(ds)
    nodes = read_tree(ds, ctx.decode)
    if not nodes:
        raise Malformed("the radiopharmaceutical dose report has no content (empty Content Sequence)")
    report = new_report(ds, ctx, source_kind, "nm")
    patient: dict = {}
    procedure = None
    for node in nodes:
        if node.key == _ADMINISTRATION:
            ctx.where = f"administration {len(report.nm_administrations) + 1}"
            report.nm_administrations.append(administration(node, ctx))
        elif node.key == _PATIENT_CHARACTERISTICS:
            ctx.where = "patient characteristics"
            patient = _patient(node, ctx, report)
        elif node.key in ("G-C2D0", "122700"):  # Associated Procedure
            procedure = ctx.meaning(node)
    ctx.where = ""
    if not report.nm_administrations:
        raise Malformed("radiopharmaceutical dose report holds no radiopharmaceutical administration")
    for admin in report.nm_administrations:
        admin.associated_procedure = procedure
        for name, value in patient.items():
            setattr(admin, name, value)
        if admin.administered_activity_mbq is None:
            ctx.warn("an administration states no administered activity")
    report.procedure_reported = procedure
    return _finish(report, ctx)


def administration(node: Node, ctx: Ctx) -> NmAdministrationRecord:
    """One Radiopharmaceutical Administration container (TID 10022)."""
    rec = NmAdministrationRecord(from_report=True)
    organs = []
    for child in node.children:
        key = child.key
        if key in ("F-61FDB", "349358000"):  # Radiopharmaceutical agent, radionuclide beneath it
            rec.radiopharmaceutical = ctx.meaning(child) or ctx.text(child)
            for sub in child.children:
                _admin_item(sub, rec, ctx)
        elif key in ("C-10072", "89457008"):
            rec.radionuclide = ctx.meaning(child) or ctx.text(child)
        elif key in _ADMIN_NUMS:
            _admin_item(child, rec, ctx)
        elif key == "113503":
            rec.event_uid = ctx.text(child)
        elif key == "123003":
            rec.start_datetime = ctx.datetime(child)
        elif key == "123004":
            rec.stop_datetime = ctx.datetime(child)
        elif key == "113508":
            rec.pre_administration_activity_mbq = ctx.value(child, "activity_mbq")
            rec.pre_administration_datetime, rec.pre_administration_device = _measurement(child, ctx)
        elif key == "113509":
            rec.post_administration_activity_mbq = ctx.value(child, "activity_mbq")
            rec.post_administration_datetime, rec.post_administration_device = _measurement(child, ctx)
        elif key == "113505":
            rec.extravasation_symptoms = _join(rec.extravasation_symptoms, ctx.meaning(child))
        elif key == "113517":
            organ = _organ_dose(child, ctx)
            if organ:
                organs.append(organ)
        elif key == "113839" or (child.vtype == "CONTAINER" and find(child.children, "113839")):
            # the Effective Dose itself, or inside an Effective Dose Information container (Siemens
            # codes that container privately: 99SHS 220001)
            dose_node = child if key == "113839" else find(child.children, "113839")
            if dose_node is not None:
                rec.effective_dose_msv = ctx.value(dose_node, "effective_dose_msv")
                rec.effective_dose_authority = ctx.text(find(dose_node.children, "121406")) or \
                    ctx.meaning(find(dose_node.children, "121406"))
        elif key in ("G-C340", "410675002"):  # Route of administration, site beneath it
            rec.route = ctx.meaning(child)
            site = find(child.children, "G-C581", "272737002")
            rec.site = ctx.meaning(site) or ctx.text(site)
        elif key == "113870":
            rec.person_name = ctx.text(child)
            rec.person_role = ctx.meaning(find(child.children, "113875"))
        elif key == "111529":
            rec.brand_name = ctx.text(child)
        elif key == "121106":
            rec.comment = ctx.text(child)
    rec.organ_doses = organs or None
    return rec


def _admin_item(node: Node, rec: NmAdministrationRecord, ctx: Ctx) -> None:
    key = node.key
    if key in ("C-10072", "89457008"):
        rec.radionuclide = ctx.meaning(node) or ctx.text(node)
    elif key in _ADMIN_NUMS:
        name, kind = _ADMIN_NUMS[key]
        if kind is None:  # specific activity: stored as sent in Bq/mmol, other units not converted
            if (node.unit or "").strip() == "Bq/mmol":
                setattr(rec, name, _plain(node, ctx))
            elif node.value is not None:
                ctx.warn(f"{node.meaning or key}: unit {node.unit!r} is not Bq/mmol; not stored")
        else:
            setattr(rec, name, ctx.value(node, kind))


def _plain(node: Node, ctx: Ctx) -> float | None:
    try:
        values = units.parse_number(node.value)
    except ValueError:
        ctx.warn(f"{node.meaning or node.key} {node.value!r} is not a number; not stored")
        return None
    if not values:
        return None
    value, problem = units.combine(values)
    if problem:
        ctx.warn(f"{node.meaning or node.key}: {problem}; not stored")
    return value


def _measurement(node: Node, ctx: Ctx):
    """When (Observation DateTime) and with what / by whom a pre- or post-administration activity
    was measured: the device's meaning and the observer's name, comma-joined."""
    when = ctx.datetime(find(node.children, "111526", "113521"))
    who = None
    for child in node.children:
        if child.key == "113540":
            who = _join(who, ctx.meaning(child))
        elif child.key in ("121008", "121012", "121013"):  # person observer name, device observer UID/name
            who = _join(who, ctx.text(child))
    return when, who


def _organ_dose(node: Node, ctx: Ctx) -> dict | None:
    site = find(node.children, "G-C0E3", "363698007")
    dose = find(node.children, "113518")
    if site is None and dose is None:
        return None
    authority = find(dose.children, "121406") if dose is not None else None
    return {"organ": ctx.meaning(site),
            "laterality": ctx.meaning(find(node.children, "G-C171", "272741003")),
            "dose_mgy": ctx.value(dose, "dose_mgy") if dose is not None else None,
            "reference_authority": ctx.text(authority)}


def _patient(node: Node, ctx: Ctx, report: DoseReport) -> dict:
    """Patient characteristics (TID 10023): height and weight fill the study's when the header has
    none; the rest is returned for the administrations."""
    out: dict = {}
    study = report.study
    for child in node.children:
        key = child.key
        if key == "8302-2":
            height = ctx.value(child, "length_mm")
            if height is not None and study.patient_height_m is None:
                study.patient_height_m = height / 1000.0
        elif key == "29463-7":
            weight = _weight_kg(child, ctx)
            if weight is not None and study.patient_weight_kg is None:
                study.patient_weight_kg = weight
        elif key in _PATIENT_NUMS:
            name, kind = _PATIENT_NUMS[key]
            value = ctx.value(child, kind)
            if value is not None and key == "113550":
                value = value / 3600.0  # fasting duration kept in hours
            out[name] = value
        elif key == "109054":
            out["patient_state"] = _join(out.get("patient_state"), ctx.meaning(child))
        elif key == "121033" and study.patient_age_years is None:
            years = _plain(child, ctx) if (child.unit or "").strip() in ("a", "{year}", "year", "years") else None
            if years is not None:
                study.patient_age_years = years
        elif key == "121032" and not study.patient_sex:
            study.patient_sex = (child.value.value if child.value is not None and hasattr(child.value, "value")
                                 else None)
    return out


def _weight_kg(node: Node, ctx: Ctx) -> float | None:
    factor = {"kg": 1.0, "g": 1e-3, "[lb_av]": 0.45359237, "lb": 0.45359237}.get((node.unit or "").strip())
    if factor is None:
        if node.value is not None:
            ctx.warn(f"Patient Weight: unit {node.unit!r} is not known; not stored")
        return None
    value = _plain(node, ctx)
    return None if value is None else units.scale(value, factor)


def _join(old: str | None, new: str | None) -> str | None:
    if not new:
        return old
    return f"{old}, {new}" if old else new

