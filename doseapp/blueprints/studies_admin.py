"""Deleting one study (admin): a confirmation page with the study's summary, then the delete, and
back to the list the admin came from."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from doseapp import audit
from doseapp.models import Study, db
from doseapp.display.timefmt import day
from doseapp.security.safe_urls import same_site_or

bp = Blueprint("studyadmin", __name__)

LIST_ENDPOINT = "studies.study_list"


def _list_url(modality: str) -> str:
    """The study's modality list when the lists exist, else the home page."""
    if LIST_ENDPOINT in current_app.view_functions:
        return url_for(LIST_ENDPOINT, modality=modality.lower())
    return url_for("home.index")


@bp.route("/studies/<int:study_id>/delete", methods=["GET", "POST"])
def delete(study_id: int):
    study = db.session.get(Study, study_id)
    if study is None:
        abort(404)
    back = same_site_or(request.values.get("next"), _list_url(study.modality))
    if request.method == "POST":
        if request.form.get("confirm") != "yes":
            return redirect(back)
        eq = study.equipment
        when = day(study.study_date, _("unknown date"))
        audit.record("study.delete", study.study_instance_uid,
                     {"study_id": study.id, "modality": study.modality,
                      "study_date": study.study_date, "display_name": eq.display_name if eq else None,
                      "accession_number": study.accession_number,
                      "total_dlp_mgycm": study.total_dlp_mgycm, "total_dap_gym2": study.total_dap_gym2,
                      "number_of_events": study.number_of_events})
        db.session.delete(study)
        db.session.commit()
        flash(_("Deleted the %(modality)s study of %(date)s from %(system)s.", modality=study.modality, date=when,
                system=eq.display_name) if eq else
              _("Deleted the %(modality)s study of %(date)s from an unknown system.", modality=study.modality,
                date=when))
        return redirect(back)
    return render_template("config/study_delete.html", study=study, back=back)
