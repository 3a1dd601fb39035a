"""`doseapp token ...`: API tokens for the JSON API (create prints the token once; only its hash is kept)."""
from __future__ import annotations

import click
from sqlalchemy import select


@click.group()
def token():
    """API tokens for the JSON API (/api/v1)."""


@token.command("create")
@click.argument("username")
@click.option("--name", help="What the token is for, e.g. 'monthly report script'.")
def token_create(username, name):
    """Make a token for USERNAME and print it. It acts with that user's roles."""
    from doseapp.cli.common import app_for_command as _app
    from doseapp.models import ApiToken, db
    from doseapp.users import UserError, find_user

    with _app().app_context():
        try:
            user = find_user(username)
        except UserError as exc:
            raise click.ClickException(str(exc))
        _, value = ApiToken.issue(user, name)
        db.session.commit()
    click.echo(value)


@token.command("list")
@click.argument("username")
def token_list(username):
    """List USERNAME's tokens (their first characters, never the whole token)."""
    from doseapp.cli.common import app_for_command as _app
    from doseapp.models import ApiToken, db
    from doseapp.users import UserError, find_user

    with _app().app_context():
        try:
            user = find_user(username)
        except UserError as exc:
            raise click.ClickException(str(exc))
        for t in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)):
            click.echo(f"{t.id:<5} {t.hint}…  {t.name or '':<30} created {t.created_at:%Y-%m-%d}  "
                       f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else
                       f"{t.id:<5} {t.hint}…  {t.name or '':<30} created {t.created_at:%Y-%m-%d}  never used")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id):
    """Delete the token with this number (see `doseapp token list USER`)."""
    from doseapp.cli.common import app_for_command as _app
    from doseapp.models import ApiToken, db

    with _app().app_context():
        row = db.session.get(ApiToken, token_id)
        if row is None:
            raise click.ClickException(f"There is no token number {token_id}.")
        db.session.delete(row)
        db.session.commit()
    click.echo(f"Token {token_id} revoked.")
