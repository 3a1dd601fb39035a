"""Standard names: which study (and CT, DX, MG event) gets which name, by the admins' rules.

Precedence (docs/decisions.md): for one field's value, an exact rule (same case) wins over patterns;
among patterns, the oldest rule wins. A study takes the name of the first of its fields that maps,
in the order study description, requested procedure, procedure; when none maps, the name most of
its events have (ties: the lowest name id). Events (CT, DX, MG) take theirs from their acquisition
protocol. Fluoroscopy has study-level names only.

Nuclear medicine: the "event" is the radiopharmaceutical administration, and what tells one kind of
NM examination from another is its radiopharmaceutical (an FDG PET, a DPD bone scan). The
administrations get no name of their own (a study has one, rarely two, and the DRL quantities are
per study); instead the study's radiopharmaceutical (Study.nm_radiopharmaceutical, comma-joined when
there were several) is a fourth field, tried after the three study fields, where the other
modalities fall back to their events' names.

`assign_study()` names one study in memory (ingest calls it in the import's transaction);
`apply_all()` names every study with set-based UPDATEs (value IN (...) per name), for the job.
"""
from __future__ import annotations

import fnmatch
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from flask_babel import gettext as _
from sqlalchemy import exists, func, or_, select, update

from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import CtEvent, StandardName, StandardNameRule, Study, XrayEvent, db
from doseapp.models.standards import RULE_MATCHES
from doseapp.models.study import MODALITIES
from doseapp.display.timefmt import plural

STUDY_FIELDS = ("study_description", "requested_procedure", "procedure")
NM_FIELDS = STUDY_FIELDS + ("radiopharmaceutical",)  # the NM study's radiopharmaceutical(s), last
EVENT_MODALITIES = ("CT", "DX", "MG")
FIELD_LABELS = {"study_description": _l("Study description"), "requested_procedure": _l("Requested procedure"),
                "procedure": _l("Procedure"), "acquisition_protocol": _l("Acquisition protocol"),
                "radiopharmaceutical": _l("Radiopharmaceutical")}
NAME_LENGTH = 200
CHUNK = 500  # values per IN list


def study_column(name: str):
    """The Study column a study-level rule field reads."""
    return {"study_description": Study.study_description,
            "requested_procedure": Study.requested_procedure_code_meaning,
            "procedure": Study.procedure_code_meaning,
            "radiopharmaceutical": Study.nm_radiopharmaceutical}[name]


def event_table(modality: str):
    return CtEvent if modality == "CT" else XrayEvent


def fields_for(modality: str) -> tuple[str, ...]:
    """The fields a rule of this modality may map, in the order a study tries them."""
    if modality in EVENT_MODALITIES:
        return STUDY_FIELDS + ("acquisition_protocol",)
    return NM_FIELDS if modality == "NM" else STUDY_FIELDS


def study_fields(modality: str) -> tuple[str, ...]:
    """The study-level fields of a modality, in the order a study tries them."""
    return NM_FIELDS if modality == "NM" else STUDY_FIELDS


def pattern_matches(pattern: str, value: str) -> bool:
    """Case-insensitive wildcard match (*, ?, [seq]), as the not-patient patterns."""
    return fnmatch.fnmatchcase(value.lower(), pattern.lower())


class RuleError(ValueError):
    """A rule that cannot be added; the message says why in plain words."""


@dataclass
class RuleSet:
    """One modality's rules, ready to map values: exact {field: {value: name_id}}, patterns
    {field: [(pattern, name_id)]} oldest first."""
    modality: str
    exact: dict = field(default_factory=dict)
    patterns: dict = field(default_factory=dict)

    def name_for(self, field_name: str, value: str | None) -> int | None:
        if not value:
            return None
        hit = self.exact.get(field_name, {}).get(value)
        if hit is not None:
            return hit
        for pattern, name_id in self.patterns.get(field_name, ()):
            if pattern_matches(pattern, value):
                return name_id
        return None

    def empty(self) -> bool:
        return not any(self.exact.values()) and not any(self.patterns.values())


def load_rules(modality: str) -> RuleSet:
    """The rules of one modality, without flushing the session (ingest calls this mid-import)."""
    rs = RuleSet(modality)
    with db.session.no_autoflush:
        rows = db.session.execute(
            select(StandardNameRule.field, StandardNameRule.match, StandardNameRule.value, StandardNameRule.standard_name_id)
            .join(StandardName, StandardName.id == StandardNameRule.standard_name_id)
            .where(StandardName.modality == modality).order_by(StandardNameRule.id)).all()
    for f, match, value, name_id in rows:
        if match == "exact":
            rs.exact.setdefault(f, {}).setdefault(value, name_id)
        else:
            rs.patterns.setdefault(f, []).append((value, name_id))
    return rs


def _most_frequent(ids) -> int | None:
    counts = Counter(i for i in ids if i is not None)
    if not counts:
        return None
    return min(counts, key=lambda i: (-counts[i], i))


# --- one study (ingest) ---------------------------------------------------------------------------

def assign_study(study: Study, rules: RuleSet | None = None) -> int | None:
    """Name one study and its events in memory (no flush, no commit); returns the study's name id."""
    rules = rules or load_rules(study.modality)
    event_ids = []
    if study.modality in EVENT_MODALITIES:
        events = study.ct_events if study.modality == "CT" else study.xray_events
        for e in events:
            e.standard_name_id = rules.name_for("acquisition_protocol", e.acquisition_protocol)
            event_ids.append(e.standard_name_id)
    else:
        for e in list(study.ct_events) + list(study.xray_events):
            e.standard_name_id = None
    name_id = None
    for f in study_fields(study.modality):
        name_id = rules.name_for(f, getattr(study, study_column(f).key))
        if name_id is not None:
            break
    if name_id is None:
        name_id = _most_frequent(event_ids)
    study.standard_name_id = name_id
    _names_assigned([study.id] if study.id else [], studies=[study])
    return name_id


def _names_assigned(study_ids, studies=(), modality: str | None = None) -> None:
    """What depends on the names follows them: each study's DRL ratio (doseapp.standards.flags).
    Two callers:
    - ingest (assign_study), in the import's transaction, before commit: `studies` is the one Study
      object (its ratio is set in memory, committed with the import);
    - apply_all, after each modality is committed: `study_ids` is None and `modality` is set,
      meaning every study of that modality may have a new name (set-based, and committed)."""
    from doseapp.standards import flags  # flags reads the DRLs, which read the names: import late

    for study in studies:
        flags.refresh_study(study)
    if modality is not None and study_ids is None:
        flags.refresh_modality(modality)


# --- every study (the job) ------------------------------------------------------------------------

def _distinct(column, modality: str | None) -> list[str]:
    """The distinct non-empty values of a column (of one modality's studies, for study columns).
    A plain DISTINCT: this runs in the job, and the (modality, column) indexes serve it."""
    stmt = select(column).where(column.isnot(None), column != "").distinct()
    if modality and column.class_ is Study:
        stmt = stmt.where(Study.modality == modality)
    return list(db.session.scalars(stmt))


def _groups(rules: RuleSet, field_name: str, values) -> tuple[dict, list]:
    """{name_id: [values]} of the values that map, and the list of those that do not."""
    groups: dict[int, list[str]] = {}
    unmapped = []
    for v in values:
        name_id = rules.name_for(field_name, v)
        if name_id is None:
            unmapped.append(v)
        else:
            groups.setdefault(name_id, []).append(v)
    return groups, unmapped


def _chunks(values):
    for i in range(0, len(values), CHUNK):
        yield values[i:i + CHUNK]


def _run(stmt) -> int:
    return db.session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0


def _apply_events(modality: str, rules: RuleSet) -> int:
    """Name the events of one modality's studies by their acquisition protocol; RF: un-name them."""
    table = event_table(modality)
    scope = table.study_id.in_(select(Study.id).where(Study.modality == modality))
    col = table.acquisition_protocol
    values = _distinct(col, None)
    groups, unmapped = _groups(rules, "acquisition_protocol", values) if modality in EVENT_MODALITIES else ({}, values)
    for name_id, vals in groups.items():
        for chunk in _chunks(vals):
            _run(update(table).where(scope, col.in_(chunk), or_(table.standard_name_id.is_(None),
                                                                table.standard_name_id != name_id))
                 .values(standard_name_id=name_id))
    for chunk in _chunks(unmapped):
        _run(update(table).where(scope, col.in_(chunk), table.standard_name_id.isnot(None)).values(standard_name_id=None))
    _run(update(table).where(scope, or_(col.is_(None), col == ""), table.standard_name_id.isnot(None))
         .values(standard_name_id=None))
    return db.session.scalar(select(func.count()).select_from(table).where(scope, table.standard_name_id.isnot(None)))


def _apply_studies(modality: str, rules: RuleSet) -> int:
    """Name one modality's studies: clear, then each field in order fills the studies still without a
    name, then the events' most frequent name."""
    base = Study.modality == modality
    _run(update(Study).where(base, Study.standard_name_id.isnot(None)).values(standard_name_id=None))
    for f in study_fields(modality):
        col = study_column(f)
        groups = _groups(rules, f, _distinct(col, modality))[0]
        for name_id, vals in groups.items():
            for chunk in _chunks(vals):
                _run(update(Study).where(base, Study.standard_name_id.is_(None), col.in_(chunk))
                     .values(standard_name_id=name_id))
    if modality in EVENT_MODALITIES:
        table = event_table(modality)
        inner = (select(table.standard_name_id).where(table.study_id == Study.id, table.standard_name_id.isnot(None))
                 .group_by(table.standard_name_id).order_by(func.count().desc(), table.standard_name_id)
                 .limit(1).scalar_subquery())
        _run(update(Study).where(base, Study.standard_name_id.is_(None),
                                 exists().where(table.study_id == Study.id, table.standard_name_id.isnot(None)))
             .values(standard_name_id=inner))
    return db.session.scalar(select(func.count()).where(base, Study.standard_name_id.isnot(None)))


@dataclass
class ApplyOutcome:
    studies: dict = field(default_factory=dict)  # modality -> studies with a name
    events: dict = field(default_factory=dict)   # modality -> events with a name

    def words(self) -> str:
        s, e = sum(self.studies.values()), sum(self.events.values())
        return f"{plural(s, 'study')} and {plural(e, 'event')} have a standard name"

    def as_dict(self) -> dict:
        return {"studies": self.studies, "events": self.events}


def apply_all(modalities=MODALITIES, progress: Callable[[int, int, str], None] | None = None) -> ApplyOutcome:
    """Name every study (and event) of these modalities by the current rules, set-based. Commits
    after each modality."""
    out = ApplyOutcome()
    total = len(modalities)
    for done, modality in enumerate(modalities):
        if progress:
            progress(done, total, f"Naming {modality} studies")
        rules = load_rules(modality)
        if modality in EVENT_MODALITIES or modality == "RF":
            out.events[modality] = _apply_events(modality, rules) if modality != "RF" else _clear_rf_events()
        out.studies[modality] = _apply_studies(modality, rules)
        db.session.commit()
        _names_assigned(None, modality=modality)
    if progress:
        progress(total, total, out.words())
    return out


def _clear_rf_events() -> int:
    scope = XrayEvent.study_id.in_(select(Study.id).where(Study.modality == "RF"))
    _run(update(XrayEvent).where(scope, XrayEvent.standard_name_id.isnot(None)).values(standard_name_id=None))
    return 0


# --- changing the rules ---------------------------------------------------------------------------

def check_rule(modality: str, name: str, field_name: str, match: str, value: str) -> None:
    """Raise RuleError when the rule is malformed, or would give a value a second name."""
    if modality not in MODALITIES:
        raise RuleError(_("Unknown modality %(modality)s: one of %(choices)s.", modality=repr(modality),
                          choices=", ".join(MODALITIES)))
    if not name or not name.strip():
        raise RuleError(_("The standard name is empty."))
    if len(name.strip()) > NAME_LENGTH:
        raise RuleError(_("The standard name is longer than %(count)s characters.", count=NAME_LENGTH))
    if field_name not in fields_for(modality):
        raise RuleError(_("Unknown field %(field)s for %(modality)s: one of %(choices)s.", field=repr(field_name),
                          modality=modality, choices=", ".join(fields_for(modality))))
    if match not in RULE_MATCHES:
        raise RuleError(_("Unknown match %(match)s: exact or pattern.", match=repr(match)))
    if not value or "\x00" in value or "\x00" in name:
        raise RuleError(_("The value is empty.") if not value else _("The value holds a NUL character."))
    same = db.session.execute(
        select(StandardNameRule, StandardName.name).join(StandardName)
        .where(StandardName.modality == modality, StandardNameRule.field == field_name,
               StandardNameRule.match == match)).all()
    for rule, other in same:
        if (rule.value == value) if match == "exact" else (rule.value.lower() == value.lower()):
            if other == name.strip():
                raise RuleError(_("%(field)s %(match)s %(value)s already maps to %(other)s.",
                                  field=FIELD_LABELS[field_name], match=match, value=repr(value), other=repr(other)))
            raise RuleError(_("%(field)s %(match)s %(value)s already maps to %(other)s (%(modality)s); a value has one "
                              "standard name. Delete that rule first.", field=FIELD_LABELS[field_name], match=match,
                              value=repr(value), other=repr(other), modality=modality))


def add_rule(modality: str, name: str, field_name: str, match: str, value: str) -> StandardNameRule:
    """Add a rule (and the standard name, when new), audited; not committed. Raises RuleError."""
    from doseapp import audit

    modality = (modality or "").upper()
    check_rule(modality, name, field_name, match, value)
    name = name.strip()
    sn = db.session.scalar(select(StandardName).where(StandardName.modality == modality, StandardName.name == name))
    if sn is None:
        sn = StandardName(modality=modality, name=name)
        db.session.add(sn)
        audit.record("standard_name.add", f"{modality} {name}", {"modality": modality, "name": name})
    rule = StandardNameRule(standard_name=sn, field=field_name, match=match, value=value)
    db.session.add(rule)
    db.session.flush()
    audit.record_change("standard_name.rule_add", f"{modality} {name}", {},
                        {"field": field_name, "match": match, "value": value})
    return rule


def delete_rule(rule: StandardNameRule) -> None:
    from doseapp import audit

    sn = rule.standard_name
    audit.record_change("standard_name.rule_delete", f"{sn.modality} {sn.name}",
                        {"field": rule.field, "match": rule.match, "value": rule.value}, {})
    db.session.delete(rule)


def rename(sn: StandardName, new_name: str) -> None:
    from doseapp import audit

    new_name = (new_name or "").strip()
    if not new_name or len(new_name) > NAME_LENGTH:
        raise RuleError(_("A standard name is 1 to %(count)s characters.", count=NAME_LENGTH))
    if new_name == sn.name:
        return
    taken = db.session.scalar(select(StandardName.id).where(StandardName.modality == sn.modality,
                                                            StandardName.name == new_name))
    if taken:
        raise RuleError(_("%(modality)s already has a standard name %(name)s.", modality=sn.modality,
                          name=repr(new_name)))
    audit.record_change("standard_name.rename", f"{sn.modality} {sn.name}", {"name": sn.name}, {"name": new_name})
    sn.name = new_name


def delete_name(sn: StandardName) -> None:
    """Delete a standard name and its rules; studies and events lose it (the references are cleared
    first: the schema has no ON DELETE rule for them)."""
    from doseapp import audit

    for model in (Study, CtEvent, XrayEvent):
        _run(update(model).where(model.standard_name_id == sn.id).values(standard_name_id=None))
    audit.record("standard_name.delete", f"{sn.modality} {sn.name}",
                 {"rules": [[r.field, r.match, r.value] for r in sn.rules]})
    db.session.delete(sn)


# --- reading --------------------------------------------------------------------------------------

def names_with_counts(modality: str) -> list[dict]:
    """The modality's standard names with their rules and study counts, by name."""
    counts = dict(db.session.execute(select(Study.standard_name_id, func.count())
                                     .where(Study.modality == modality, Study.standard_name_id.isnot(None))
                                     .group_by(Study.standard_name_id)).all())
    names = db.session.scalars(select(StandardName).where(StandardName.modality == modality)
                               .order_by(func.lower(StandardName.name))).all()
    return [{"name": sn, "studies": counts.get(sn.id, 0), "rules": list(sn.rules)} for sn in names]


def unmapped_values(modality: str, limit: int = 200) -> dict[str, list[tuple[str, int]]]:
    """{field: [(value, studies)]} of the values no rule maps, most studies first."""
    rules = load_rules(modality)
    out = {}
    for f in fields_for(modality):
        if f == "acquisition_protocol":
            table = event_table(modality)
            col = table.acquisition_protocol
            stmt = (select(col, func.count(func.distinct(table.study_id))).join(Study, Study.id == table.study_id)
                    .where(Study.modality == modality, col.isnot(None), col != "").group_by(col))
        else:
            col = study_column(f)
            stmt = (select(col, func.count()).where(Study.modality == modality, col.isnot(None), col != "")
                    .group_by(col))
        rows = [(v, n) for v, n in db.session.execute(stmt).all() if rules.name_for(f, v) is None]
        rows.sort(key=lambda r: (-r[1], r[0]))
        out[f] = rows[:limit]
    return out


def mapping_rows() -> list[dict]:
    """Every rule as a CSV row: modality, standard_name, field, match, value."""
    rows = db.session.execute(
        select(StandardName.modality, StandardName.name, StandardNameRule.field, StandardNameRule.match,
               StandardNameRule.value).join(StandardNameRule)
        .order_by(StandardName.modality, StandardName.name, StandardNameRule.id)).all()
    return [dict(zip(("modality", "standard_name", "field", "match", "value"), r)) for r in rows]


def study_counts_named() -> dict:
    """Per modality, the studies with a standard name."""
    return dict(db.session.execute(select(Study.modality, func.count()).where(Study.standard_name_id.isnot(None))
                                   .group_by(Study.modality)).all())

