"""OpenREM's query filtering logic and duplicates processing (seed 003 §4.3.2), as pure functions
over response records. Nothing here talks to the network or the database: the image-level query
and the "what have we imported" look-up are passed in as functions, so the whole decision can be
run, and tested, against any responses.

Nothing is deleted: a response that the rules drop keeps its place with `excluded_reason` saying
why, so the query history can show every response and its fate.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable


from doseapp.extract.classify import ENHANCED_SR, RADIOPHARMACEUTICAL_DOSE_SR, SECONDARY_CAPTURE, XRAY_DOSE_SR
from doseapp.lazy_text import lazy_gettext as _l

# The query page's modality choices and the DICOM modalities each is queried for, in OpenREM's
# order (a planar X-ray query is a DX query then a CR query, as the seed's log shows).
MODALITY_CHOICES = {"CT": ("CT",), "MG": ("MG",), "FL": ("RF", "XA"), "DX": ("DX", "CR"), "NM": ("NM", "PT")}
MODALITY_LABELS = {"CT": "CT", "MG": _l("Mammography"), "FL": _l("Fluoroscopy"), "DX": _l("Radiography"),
                   "NM": _l("Nuclear medicine"), "SR": _l("SR only")}
SR_ONLY = ("SR",)
TOO_MANY_FOR_DOSE_INFO = 5  # a series with more images than this is not a Philips "Dose Info" series

ImagesOf = Callable[["StudyRsp", "SeriesRsp"], list["ImageRsp"]]


@dataclass
class QueryOptions:
    """What to query for: the page's fields and `doseapp qr`'s options."""
    modalities: list[str] = field(default_factory=list)  # keys of MODALITY_CHOICES
    date_from: str | None = None  # YYYYMMDD
    date_until: str | None = None
    time_from: str | None = None  # HHMM
    time_until: str | None = None
    desc_include: list[str] = field(default_factory=list)
    desc_exclude: list[str] = field(default_factory=list)
    station_include: list[str] = field(default_factory=list)
    station_exclude: list[str] = field(default_factory=list)
    toshiba: bool = False
    sr_only: bool = False
    remove_duplicates: bool = True

    @classmethod
    def from_dict(cls, values: dict | None) -> "QueryOptions":
        """Options saved as JSON (a query's or a scheduled query's parameters); other keys ignored."""
        return cls(**{k: v for k, v in (values or {}).items() if k in cls.__dataclass_fields__})

    def dicom_modalities(self) -> list[str]:
        """The per-modality study queries to send, in order."""
        if self.sr_only:
            return list(SR_ONLY)
        return [m for choice in self.modalities for m in MODALITY_CHOICES[choice]]


@dataclass
class ImageRsp:
    sop_instance_uid: str
    instance_number: int | None = None
    sop_class_uid: str | None = None
    excluded_reason: str | None = None


@dataclass
class SeriesRsp:
    series_instance_uid: str
    modality: str | None = None
    series_number: int | None = None
    series_time: str | None = None
    series_description: str | None = None
    number_of_instances: int | None = None
    station_name: str | None = None
    sop_class_uid: str | None = None
    images: list[ImageRsp] | None = None  # None: not queried at image level
    image_level_move: bool = False
    excluded_reason: str | None = None

    @property
    def kept_images(self) -> list[ImageRsp]:
        return [i for i in self.images or [] if i.excluded_reason is None]


@dataclass
class StudyRsp:
    study_instance_uid: str
    query_modality: str | None = None
    modalities: list[str] | None = None  # None: the remote did not return ModalitiesInStudy
    study_date: str | None = None
    study_time: str | None = None
    study_description: str | None = None
    accession_number: str | None = None
    number_of_series: int | None = None
    station_name: str | None = None
    modalities_returned: bool = True
    series: list[SeriesRsp] = field(default_factory=list)
    excluded_reason: str | None = None

    @property
    def kept_series(self) -> list[SeriesRsp]:
        return [s for s in self.series if s.excluded_reason is None]


def terms(text: str | Iterable[str] | None) -> list[str]:
    """Comma-separated filter terms, trimmed and lower-cased (matching is case-insensitive)."""
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else text
    return [p.strip().lower() for p in parts if p and p.strip()]


def split_modalities(value) -> list[str] | None:
    """ModalitiesInStudy as a list. PACS send it multi-valued, as one string with backslashes or
    commas, or empty; None or empty means not returned."""
    if value is None:
        return None
    items = [value] if isinstance(value, (str, bytes)) else list(value)
    found = [m.strip().upper() for item in items for m in re.split(r"[\\,\s]+", str(item)) if m.strip()]
    return list(dict.fromkeys(found)) or None


def _kept(studies: Iterable[StudyRsp]) -> list[StudyRsp]:
    return [s for s in studies if s.excluded_reason is None]


# --- study level ---------------------------------------------------------------------------------

def merge_duplicates(studies: list[StudyRsp]) -> None:
    """A study found by several per-modality queries (or listed twice by the remote) is kept once."""
    first: dict[str, StudyRsp] = {}
    for study in _kept(studies):
        seen = first.get(study.study_instance_uid)
        if seen is None:
            first[study.study_instance_uid] = study
        else:
            study.excluded_reason = ("duplicate response: the same study was already returned by the "
                                     f"{seen.query_modality} query")


def filter_sr_only(studies: list[StudyRsp]) -> None:
    """SR-only queries keep studies whose known modalities are nothing but SR."""
    for study in _kept(studies):
        if study.modalities is not None and set(study.modalities) - {"SR"}:
            others = ", ".join(sorted(set(study.modalities) - {"SR"}))
            study.excluded_reason = (f"SR-only query: the study also holds {others} "
                                     "(studies with images are found without the SR-only option)")


def _text_rule(value: str | None, include: list[str], exclude: list[str], what: str) -> str | None:
    text = (value or "").lower()
    for term in exclude:
        if term in text:
            return f"{what} {value!r} contains the excluded term {term!r}"
    if include and not any(term in text for term in include):
        return f"{what} {value or '(empty)'!r} contains none of the terms to include ({', '.join(include)})"
    return None


def filter_study_text(studies: list[StudyRsp], options: QueryOptions) -> None:
    """Study description and station name filters, where the remote returns those attributes
    (returned = at least one response carries a value; a remote that sends them empty for every
    study does not support them)."""
    kept = _kept(studies)
    rules = (("study_description", "study description", terms(options.desc_include), terms(options.desc_exclude)),
             ("station_name", "station name", terms(options.station_include), terms(options.station_exclude)))
    for attribute, what, include, exclude in rules:
        if not (include or exclude) or not any(getattr(s, attribute) for s in kept):
            continue
        for study in kept:
            if study.excluded_reason is None:
                study.excluded_reason = _text_rule(getattr(study, attribute), include, exclude, what)


def rebuild_modalities(study: StudyRsp) -> None:
    """ModalitiesInStudy from the series responses when the remote did not return it."""
    if study.modalities is None:
        study.modalities = list(dict.fromkeys(s.modality.upper() for s in study.series if s.modality)) or None
        study.modalities_returned = False


def filter_requested_modalities(studies: list[StudyRsp], options: QueryOptions) -> None:
    """Drop studies the remote returned although they hold none of the modalities asked for (a
    remote that ignores ModalitiesInStudy returns everything in the date range)."""
    wanted = set(options.dicom_modalities())
    for study in _kept(studies):
        have = set(study.modalities or [])
        if options.sr_only:
            if have - {"SR"}:
                filter_sr_only([study])
            elif "SR" not in have:
                study.excluded_reason = "SR-only query: the study has no SR series"
        elif not have & wanted:
            study.excluded_reason = (f"holds {', '.join(sorted(have)) or 'no known modality'}, none of the "
                                     f"modalities asked for ({', '.join(sorted(wanted))})")


def filter_series_station(study: StudyRsp, options: QueryOptions) -> None:
    """The station name filters again at series level, where many PACS return the station name."""
    include, exclude = terms(options.station_include), terms(options.station_exclude)
    if not (include or exclude) or not any(s.station_name for s in study.series):
        return
    for series in study.kept_series:
        series.excluded_reason = _text_rule(series.station_name, include, exclude, "station name")
    if not study.kept_series:
        study.excluded_reason = "no series left after the station name filters"


# --- series level: which objects hold the dose ---------------------------------------------------

def _sr_kinds(study: StudyRsp, sr_series: list[SeriesRsp], images_of: ImagesOf) -> dict[str, list[SeriesRsp]]:
    """Query each SR series at image level; sort them into RDSR, ESR and other. An SR series with no
    instances is dropped (some PACS list empty series)."""
    kinds: dict[str, list[SeriesRsp]] = {"rdsr": [], "esr": [], "other": []}
    for series in sr_series:
        if series.images is None:
            series.images = images_of(study, series)
        if not series.images:
            series.excluded_reason = "empty SR series: no instances at image level"
            continue
        classes = {i.sop_class_uid for i in series.images}
        series.sop_class_uid = XRAY_DOSE_SR if XRAY_DOSE_SR in classes else (
            ENHANCED_SR if ENHANCED_SR in classes else next(iter(classes)))
        kinds["rdsr" if XRAY_DOSE_SR in classes else "esr" if ENHANCED_SR in classes else "other"].append(series)
    return kinds


def _keep_only(study: StudyRsp, keep: list[SeriesRsp], reason: str) -> None:
    for series in study.kept_series:
        if series not in keep:
            series.excluded_reason = reason


def _keep_sop_classes(series: SeriesRsp, wanted: set[str]) -> None:
    """In a kept SR series, leave out instances of other SR kinds (then move image by image)."""
    for image in series.images or []:
        if image.sop_class_uid not in wanted:
            image.excluded_reason = "not a dose report SR instance"
            series.image_level_move = True


def _projection_rule(study: StudyRsp, images_of: ImagesOf, label: str) -> None:
    """Mammography and planar X-ray: an RDSR if there is one, otherwise every image series."""
    sr = [s for s in study.kept_series if (s.modality or "").upper() == "SR"]
    kinds = _sr_kinds(study, sr, images_of)
    if kinds["rdsr"]:
        for series in kinds["rdsr"]:
            _keep_sop_classes(series, {XRAY_DOSE_SR})
        _keep_only(study, kinds["rdsr"], f"{label}: the study has an RDSR, which is retrieved instead")
    else:
        for series in kinds["esr"] + kinds["other"]:
            series.excluded_reason = f"{label}: SR series is not an RDSR; the images are retrieved instead"


def _fluoro_rule(study: StudyRsp, images_of: ImagesOf) -> None:
    """Fluoroscopy: RDSR and Enhanced SR series only."""
    sr = [s for s in study.kept_series if (s.modality or "").upper() == "SR"]
    for series in study.kept_series:
        if series not in sr:
            series.excluded_reason = "fluoroscopy: image series hold no dose report; only RDSRs and ESRs are retrieved"
    kinds = _sr_kinds(study, sr, images_of)
    for series in kinds["rdsr"] + kinds["esr"]:
        _keep_sop_classes(series, {XRAY_DOSE_SR, ENHANCED_SR})
    for series in kinds["other"]:
        series.excluded_reason = "fluoroscopy: SR series is neither an RDSR nor an Enhanced SR"


def _first_image(images: list[ImageRsp]) -> ImageRsp:
    """The lowest instance number; PACS that leave instance numbers out give response order."""
    numbered = [i for i in images if i.instance_number is not None]
    return min(numbered, key=lambda i: i.instance_number) if numbered else images[0]


def _keep_first_image(study: StudyRsp, series: SeriesRsp, images_of: ImagesOf, reason: str,
                      whole_if: Callable[[ImageRsp], bool] | None = None) -> None:
    """Keep only the first image of `series` (fetched at image level if not yet), the others
    excluded with `reason`, and move it at image level; an empty series is excluded. With
    `whole_if`, a series whose first image passes it is kept whole."""
    if series.images is None:
        series.images = images_of(study, series)
    if not series.images:
        series.excluded_reason = "empty series: no instances at image level"
        return
    first = _first_image(series.images)
    if whole_if is not None and whole_if(first):
        return
    for image in series.images:
        if image is not first:
            image.excluded_reason = reason
    series.image_level_move = True


def _toshiba_rule(study: StudyRsp, series_list: list[SeriesRsp], images_of: ImagesOf) -> None:
    """Toshiba dose images: a secondary capture series whole; otherwise only its first image."""
    for series in series_list:
        _keep_first_image(study, series, images_of,
                          "Toshiba option: only the first image of an image series is needed",
                          whole_if=lambda first: first.sop_class_uid == SECONDARY_CAPTURE)


def _ct_rule(study: StudyRsp, options: QueryOptions, images_of: ImagesOf) -> None:
    """CT: an RDSR, else an Enhanced SR, else Philips "Dose Info", else Toshiba images (if asked),
    else (series descriptions not returned) every series of five images or fewer."""
    sr = [s for s in study.kept_series if (s.modality or "").upper() == "SR"]
    kinds = _sr_kinds(study, sr, images_of)
    for kind, sop, label in (("rdsr", XRAY_DOSE_SR, "an RDSR"), ("esr", ENHANCED_SR, "an Enhanced SR")):
        if kinds[kind]:
            for series in kinds[kind]:
                _keep_sop_classes(series, {sop})
            _keep_only(study, kinds[kind], f"CT: the study has {label}, which is retrieved instead")
            return
    for series in kinds["other"]:
        series.excluded_reason = "CT: SR series is neither an RDSR nor an Enhanced SR"
    others = study.kept_series
    if any(s.series_description for s in study.series):
        dose_info = [s for s in others if "dose info" in (s.series_description or "").lower()]
        if dose_info:
            _keep_only(study, dose_info, 'CT: the study has a Philips "Dose Info" series, which is retrieved instead')
        elif options.toshiba:
            _toshiba_rule(study, others, images_of)
        else:
            _keep_only(study, [], 'CT: no RDSR, Enhanced SR or Philips "Dose Info" series (Toshiba images not asked for)')
    elif options.toshiba:
        _toshiba_rule(study, others, images_of)
    else:
        for series in others:
            if (series.number_of_instances or 0) > TOO_MANY_FOR_DOSE_INFO:
                series.excluded_reason = (f"CT: {series.number_of_instances} images, more than {TOO_MANY_FOR_DOSE_INFO}: "
                                          'not a Philips "Dose Info" series (series descriptions not returned)')


def _nm_rule(study: StudyRsp, images_of: ImagesOf) -> None:
    """Nuclear medicine and PET: the radiopharmaceutical dose reports, and one image (the first) of
    each NM and PT series for its series details (a PET/CT's CT RDSR is retrieved by a CT query;
    the NM importer never takes an administration from an image when the study has a report)."""
    rrdsr = []
    for series in [s for s in study.kept_series if (s.modality or "").upper() == "SR"]:
        if series.images is None:
            series.images = images_of(study, series)
        if any(i.sop_class_uid == RADIOPHARMACEUTICAL_DOSE_SR for i in series.images or []):
            _keep_sop_classes(series, {RADIOPHARMACEUTICAL_DOSE_SR})
            rrdsr.append(series)
        else:
            series.excluded_reason = "nuclear medicine: SR series holds no radiopharmaceutical dose report"
    for series in study.kept_series:
        modality = (series.modality or "").upper()
        if series in rrdsr:
            continue
        if modality not in ("NM", "PT"):
            series.excluded_reason = f"nuclear medicine: a {modality or 'non-NM'} series holds no NM dose information"
            continue
        _keep_first_image(study, series, images_of, "nuclear medicine: the first image of a series describes it")


def _sr_only_rule(study: StudyRsp, images_of: ImagesOf) -> None:
    kinds = _sr_kinds(study, study.kept_series, images_of)
    for series in kinds["other"]:
        series.excluded_reason = "SR-only query: SR series is neither an RDSR nor an Enhanced SR"
    for series in kinds["rdsr"] + kinds["esr"]:
        _keep_sop_classes(series, {XRAY_DOSE_SR, ENHANCED_SR})
    if not kinds["rdsr"] and not kinds["esr"]:
        study.excluded_reason = "SR-only query: no RDSR or Enhanced SR in the study"


def select_series(study: StudyRsp, options: QueryOptions, images_of: ImagesOf) -> None:
    """Apply the per-modality series rules (the first that the study's modalities call for)."""
    mods = set(study.modalities or [])
    if options.sr_only:
        _sr_only_rule(study, images_of)
    elif "MG" in options.modalities and "MG" in mods:
        _projection_rule(study, images_of, "mammography")
    elif "DX" in options.modalities and mods & {"DX", "CR"}:
        _projection_rule(study, images_of, "radiography")
    elif "FL" in options.modalities and mods & {"RF", "XA"}:
        _fluoro_rule(study, images_of)
    elif "NM" in options.modalities and mods & {"NM", "PT"}:
        _nm_rule(study, images_of)
    elif "CT" in options.modalities and "CT" in mods:
        _ct_rule(study, options, images_of)


# --- duplicates ----------------------------------------------------------------------------------

def remove_duplicates(study: StudyRsp, imported: set[str] | None, images_of: ImagesOf) -> None:
    """Leave out objects whose SOP Instance UID we have already imported into this study.

    `imported` is None when the study is not in our database. The seed queries SR, MG, DX and CR
    series at image level; doseapp queries every kept series of a known study, so that a second run
    retrieves nothing for CT "Dose Info" or Toshiba series either (see docs/decisions.md)."""
    if imported is None:
        return
    for series in study.kept_series:
        if series.images is None:
            series.images = images_of(study, series)
        dropped = False
        for image in series.kept_images:
            if image.sop_instance_uid in imported:
                image.excluded_reason = "already imported"
                dropped = True
        if dropped:
            series.image_level_move = True


def drop_empty(study: StudyRsp) -> None:
    """Series without any image left, then studies without any series left."""
    for series in study.kept_series:
        if series.images is not None and not series.kept_images:
            reasons = {i.excluded_reason for i in series.images}
            series.excluded_reason = ("every object already imported" if reasons == {"already imported"}
                                      else "no instances left to retrieve")
    if study.excluded_reason is None and not study.kept_series:
        duplicates = any(s.excluded_reason == "every object already imported" for s in study.series)
        study.excluded_reason = "already imported" if duplicates else "no series left to retrieve"


# --- the whole pipeline --------------------------------------------------------------------------

def run(studies: list[StudyRsp], options: QueryOptions, series_of: Callable[[StudyRsp], list[SeriesRsp]],
        images_of: ImagesOf, imported_of: Callable[[str], set[str] | None],
        progress: Callable[[str], None] = lambda stage: None) -> list[StudyRsp]:
    """The seed's order of steps over the study-level responses. Network and database look-ups are
    the three functions passed in. Returns the studies kept."""
    merge_duplicates(studies)
    if options.sr_only:
        filter_sr_only(studies)
    filter_study_text(studies, options)
    kept = _kept(studies)
    for n, study in enumerate(kept, start=1):
        progress(f"Series query {n} of {len(kept)}")
        study.series = series_of(study)
        rebuild_modalities(study)
    filter_requested_modalities(studies, options)
    for study in _kept(studies):
        filter_series_station(study, options)
    for n, study in enumerate(_kept(studies), start=1):
        progress(f"Choosing the dose objects of study {n}")
        select_series(study, options, images_of)
    if options.remove_duplicates:
        progress("Removing objects already imported")
        for study in _kept(studies):
            remove_duplicates(study, imported_of(study.study_instance_uid), images_of)
    for study in _kept(studies):
        drop_empty(study)
    return _kept(studies)


def summary(studies: Iterable[StudyRsp], options: QueryOptions) -> dict[str, int]:
    """Studies kept per modality choice, as the page shows them before Retrieve."""
    counts: dict[str, int] = {}
    for study in _kept(studies):
        mods = set(study.modalities or [])
        choice = "SR" if options.sr_only else next(
            (c for c in ("MG", "DX", "FL", "NM", "CT") if c in options.modalities and mods & set(MODALITY_CHOICES[c])), "other")
        counts[choice] = counts.get(choice, 0) + 1
    return counts
