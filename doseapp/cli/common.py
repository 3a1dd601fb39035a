"""The `doseapp` command group and what its commands share."""
from __future__ import annotations

import os

import click


def app_for_command(migrate: bool = True):
    """The app for this command; any command on an instance without a database creates it first."""
    from doseapp import create_app
    from doseapp.database import ensure_current
    from doseapp.display.i18n import LanguageError
    from doseapp.display.timefmt import TimeZoneError

    try:
        app = create_app()
    except (TimeZoneError, LanguageError) as exc:  # a setting in words, not a traceback
        raise click.ClickException(str(exc)) from None
    if migrate:
        ensure_current(app)
    return app


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--instance", envvar="DOSEAPP_INSTANCE", type=click.Path(file_okay=False),
              help="Instance folder (default ./instance, or DOSEAPP_INSTANCE).")
@click.version_option(package_name="doseapp")
def main(instance):
    """doseapp: patient radiation dose monitoring."""
    if instance:
        os.environ["DOSEAPP_INSTANCE"] = os.path.abspath(instance)


def stop_on_signals():
    """An event set by SIGTERM or SIGINT, for processes that stop between passes."""
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop
