"""The rule catalogue: every alert rule doseapp knows, what it measures and in which units.

Thresholds are stored in the database in stored units (DAP Gy·m², dose Gy, factor, count) and shown
and typed in display units (DAP cGy·cm² as the lists show it). Defaults follow OpenREM 1.0 where it
has one (fluoroscopy total DAP 20000 cGy·cm², total dose at RP 2 Gy). The CT and nuclear medicine
thresholds have no default (no published figure fits every site): a rule without a threshold cannot be
switched on. Every rule starts off.
"""
from __future__ import annotations

from dataclasses import dataclass

# cGy·cm² per Gy·m², as doseapp.filters.DAP_DISPLAY_PER_STORED (not imported: filters reads alerts,
# and tests/alerts check the two agree).
DAP_DISPLAY_PER_STORED = 1e6

PER_STUDY, CUMULATIVE, EVENT = "per-study", "cumulative", "event"


@dataclass(frozen=True)
class RuleSpec:
    key: str
    label: str
    modality: str | None  # None: any modality
    quantity: str         # the study column (per-study, cumulative) or what is counted
    unit: str             # display unit
    kind: str             # per-study, cumulative or event
    default: float | None  # default threshold, display units
    scale: float = 1.0    # display value = stored value * scale
    has_threshold: bool = True
    default_weeks: int = 12  # the period a cumulative rule starts with

    @property
    def stored_unit(self) -> str:
        return "Gy·m²" if self.unit == "cGy·cm²" else self.unit

    @property
    def title(self) -> str:
        """The label in the reader's language (messages.pot holds the labels: RuleSpec's second argument
        is an extraction keyword); `label` stays English for the command line's JSON."""
        from flask_babel import gettext

        return gettext(self.label)

    def to_stored(self, display: float | None) -> float | None:
        return None if display is None else display / self.scale

    def to_display(self, stored: float | None) -> float | None:
        return None if stored is None else stored * self.scale


DAP = dict(unit="cGy·cm²", scale=DAP_DISPLAY_PER_STORED)
RULES: tuple[RuleSpec, ...] = (
    RuleSpec("rf_dap_study", "Fluoroscopy study total DAP", "RF", "total_dap_gym2", kind=PER_STUDY,
             default=20000.0, **DAP),
    RuleSpec("rf_rp_study", "Fluoroscopy study total dose at RP", "RF", "total_dose_rp_gy", "Gy", PER_STUDY, 2.0),
    RuleSpec("rf_psd_study", "Fluoroscopy study peak skin dose", "RF", "peak_skin_dose_gy", "Gy", PER_STUDY, 2.0),
    RuleSpec("rf_dap_cumulative", "Fluoroscopy total DAP of one patient over the period", "RF", "total_dap_gym2",
             kind=CUMULATIVE, default=20000.0, **DAP),
    RuleSpec("rf_rp_cumulative", "Fluoroscopy total dose at RP of one patient over the period", "RF",
             "total_dose_rp_gy", "Gy", CUMULATIVE, 2.0),
    RuleSpec("rf_psd_cumulative", "Fluoroscopy peak skin doses of one patient summed over the period", "RF",
             "peak_skin_dose_gy", "Gy", CUMULATIVE, 2.0),
    RuleSpec("ct_dose_check", "CT Dose Check alert or notification recorded by the scanner", "CT",
             "dose_check", "events", EVENT, None, has_threshold=False),
    RuleSpec("ct_dlp_study", "CT study total DLP", "CT", "total_dlp_mgycm", "mGy·cm", PER_STUDY, None),
    RuleSpec("ct_dlp_cumulative", "CT total DLP of one patient over the period", "CT", "total_dlp_mgycm",
             "mGy·cm", CUMULATIVE, None, default_weeks=52),
    RuleSpec("ct_effective_dose_cumulative",
             "CT effective dose estimates of one patient summed over the period (population estimates)", "CT",
             "effective_dose_msv", "mSv", CUMULATIVE, None, default_weeks=260),
    RuleSpec("mg_repeat", "Mammography repeats (same view and laterality exposed again)", "MG", "repeats", "n",
             EVENT, 1.0),
    RuleSpec("nm_activity_study", "Nuclear medicine study administered activity", "NM", "nm_activity_mbq", "MBq",
             PER_STUDY, None),
    RuleSpec("drl_factor", "Dose above a factor of the DRL for its standard name", None, "drl_ratio", "×",
             PER_STUDY, 2.0),
)
BY_KEY = {r.key: r for r in RULES}


def spec(key: str) -> RuleSpec:
    """The rule `key`, or KeyError naming the known ones."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"no rule {key!r}; the rules are: {', '.join(BY_KEY)}") from None


def rule_rows() -> dict:
    """{key: AlertRule} for every catalogue rule, creating missing rows (off, default threshold).
    Caller commits."""
    from sqlalchemy import select

    from doseapp.models import db
    from doseapp.models.alerts import AlertRule

    rows = {r.key: r for r in db.session.scalars(select(AlertRule)).all()}
    for s in RULES:
        if s.key not in rows:
            row = AlertRule(key=s.key, enabled=False, threshold=s.to_stored(s.default),
                           period_weeks=s.default_weeks)
            db.session.add(row)
            rows[s.key] = row
    db.session.flush()
    return rows


def enabled_rows() -> dict:
    """{key: AlertRule} of the switched-on rules (no rows created: a fresh instance has none on)."""
    from sqlalchemy import select

    from doseapp.models import db
    from doseapp.models.alerts import AlertRule

    return {r.key: r for r in db.session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True))).all()
            if r.key in BY_KEY}


def cannot_work(key: str) -> str | None:
    """Why a rule cannot raise anything with the current settings, or None. Cumulative rules need
    patient IDs kept (plain or hashed: the same keyed hash gives the same stored value)."""
    from doseapp.models import SystemSettings

    if BY_KEY[key].kind == CUMULATIVE and not SystemSettings.get().id_stored:
        return ("patient IDs are not stored (Config → Patient identifiers), so studies of one patient cannot be "
                "found: this rule cannot raise alerts until IDs are stored (plain or hashed)")
    return None
