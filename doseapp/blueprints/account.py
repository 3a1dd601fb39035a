"""A user's own alert e-mail choices: their address, and per rule (or for every rule) immediately, in
a daily digest, or not at all."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import delete, select

from doseapp import audit
from doseapp.lazy_text import lazy_gettext as _l
from doseapp.models import AlertSubscription, SystemSettings, User, db
from doseapp.notify.alerts import MODES
from doseapp.notify.labels import ALL_RULES, rule_label, rule_labels
from doseapp.notify.smtp import address_problem

bp = Blueprint("account", __name__, url_prefix="/account")

MODE_NAMES = {"off": _l("Off"), "immediate": _l("Immediately"), "digest": _l("Daily digest")}
INHERIT = ""  # a rule's choice left to the "every rule" one


@bp.route("/alert-emails", methods=["GET", "POST"])
def alert_emails():
    user = db.session.get(User, current_user.id)
    choices = dict(db.session.execute(select(AlertSubscription.rule_key, AlertSubscription.mode)
                                      .where(AlertSubscription.user_id == user.id)).all())
    rules = rule_labels()
    for key in choices:  # a choice for a rule not (or no longer) configured is still shown
        if key != ALL_RULES and key not in rules:
            rules[key] = rule_label(key)
    error = None
    if request.method == "POST":
        address = request.form.get("email", "").strip()
        error = address_problem(address) if address else None
        if error is None:
            wanted = {}
            every = request.form.get("rule:" + ALL_RULES, "off")
            if every in ("immediate", "digest"):
                wanted[ALL_RULES] = every
            for key in rules:
                mode = request.form.get("rule:" + key, INHERIT)
                if mode in MODES and mode != wanted.get(ALL_RULES, "off"):
                    wanted[key] = mode  # "off" kept only where it overrides "every rule"
            before = {"email": user.email, **{f"rule {k}": v for k, v in choices.items()}}
            after = {"email": address or None, **{f"rule {k}": v for k, v in wanted.items()}}
            user.email = address or None
            db.session.execute(delete(AlertSubscription).where(AlertSubscription.user_id == user.id))
            db.session.add_all(AlertSubscription(user_id=user.id, rule_key=k, mode=m) for k, m in wanted.items())
            audit.record_change("account.alert_emails", user.username, before, after)
            db.session.commit()
            flash(_("Your alert e-mail choices are saved.") if address or not wanted
                  else _("Saved; no e-mail is sent until you give your address."))
            return redirect(url_for("account.alert_emails"))
    smtp_configured = bool(SystemSettings.get().smtp_host)
    db.session.commit()
    return render_template("account/alert_emails.html", user=user, rules=rules, choices=choices, modes=MODE_NAMES,
                           all_rules=ALL_RULES, error=error, smtp_configured=smtp_configured,
                           email=request.form.get("email", user.email or "") if error else (user.email or "")), \
        (400 if error else 200)


@bp.route("/language", methods=["GET", "POST"])
def language():
    """The user's own language for pages; "" leaves it to the site default, else the browser."""
    from flask_babel import refresh

    from doseapp.display.i18n import LANGUAGES

    user = db.session.get(User, current_user.id)
    if request.method == "POST":
        chosen = request.form.get("locale", "")
        if chosen and chosen not in LANGUAGES:
            db.session.rollback()
            return render_template("account/language.html", current=user.locale or "", user=user,
                                   error=_("That is not a language doseapp has.")), 400
        translated = request.form.get("export_headings") == "translated"
        before = {"locale": user.locale, "export headings": "translated" if user.export_headings_translated else "English"}
        user.locale, user.export_headings_translated = chosen or None, translated
        audit.record_change("account.language", user.username, before,
                            {"locale": user.locale, "export headings": "translated" if translated else "English"})
        db.session.commit()
        current_user.locale = user.locale
        current_user.export_headings_translated = translated
        refresh()  # this request's messages in the new language
        flash(_("Your language is saved."))
        return redirect(url_for("account.language"))
    db.session.commit()
    return render_template("account/language.html", current=user.locale or "", user=user, error=None)
